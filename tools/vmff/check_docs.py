"""Check the main stack's kernel-doc comments and build its documentation.

usage: tools/check-docs [--tree DIR]

TREE (default work/main/linux) holds the applied series on branch
'series'.  Two checks:

kernel-doc  scripts/kernel-doc -none -Wall over every C file and header the
            series touches, at the tip and at the base (from git, into a
            scratch directory).  A warning the base does not have fails;
            warnings are compared with their line numbers left out.
sphinx      'make htmldocs SPHINXDIRS=timers' (Debian's python3-sphinx),
            into build/check-docs.  Any warning or error that names a file
            the series adds or touches fails, and so does an identifier
            of a kernel-doc directive in the series' pages that the HTML
            does not document (Sphinx says nothing about those).

The last line says: check-docs: N passed, N failed.
"""

import collections
import os
import re
import shutil
import subprocess
import tempfile

from .core import BUILD, TOP, Failure, doc_parser, git
from .deps import need_deps
from .report import Report
from .stacks import base_of, default_tree, kernel_tree

OUT = os.path.join(BUILD, "check-docs")


def kernel_doc(tree, root, files):
    """kernel-doc's warnings over FILES under ROOT, without line numbers."""
    p = subprocess.run([os.path.join(tree, "scripts", "kernel-doc"),
                        "-none", "-Wall"] + files, cwd=root, text=True,
                       capture_output=True)
    # It exits non-zero for warnings only; a crash is not a warning.
    if "Traceback" in p.stderr or p.returncode not in (0, 1) and \
            "arning" not in p.stderr + p.stdout:
        raise Failure(f"kernel-doc failed ({p.returncode}) in {root}:\n"
                      + p.stderr.strip()[-1500:])
    found = collections.Counter()
    for line in (p.stdout + p.stderr).splitlines():
        line = re.sub(r"(\S+\.[ch]):\d+(:\d+)?", r"\1", line.strip())
        if line:
            found[line] += 1
    return found


def main():
    ap = doc_parser(__doc__)
    ap.add_argument("--tree")
    a = ap.parse_args()
    need_deps("check-docs")
    tree = kernel_tree(a.tree or default_tree(TOP), need_git=True)
    # kernel-doc and Sphinx read the work tree: it must be the series.
    if git(tree, "symbolic-ref", "-q", "--short", "HEAD",
           check=False) != "series":
        raise Failure(f"{tree}: branch 'series' is not checked out")
    if git(tree, "status", "--porcelain", "--untracked-files=no"):
        raise Failure(f"{tree}: uncommitted changes; commit or stash them")
    # The base as fetch-base names it: with LINUX_TREE, a clone with
    # history, it is not the root commit.
    _, _, base = base_of(TOP)
    files = git(tree, "diff", "--name-only", f"{base}..series").split()
    sources = [f for f in files if re.search(r"\.[ch]$", f)
               and not f.startswith("tools/")]
    report = Report("check-docs")
    record = report.check

    after = kernel_doc(tree, tree, [f for f in sources
                                    if os.path.exists(os.path.join(tree, f))])
    scratch = tempfile.mkdtemp(prefix="vmff-kdoc-")
    try:
        had = []
        for f in sources:
            text = subprocess.run(["git", "-C", tree, "show", f"{base}:{f}"],
                                  capture_output=True)
            if text.returncode == 0:
                os.makedirs(os.path.join(scratch, os.path.dirname(f)),
                            exist_ok=True)
                with open(os.path.join(scratch, f), "wb") as out:
                    out.write(text.stdout)
                had.append(f)
        before = kernel_doc(tree, scratch, had)
    finally:
        shutil.rmtree(scratch)
    new = after - before
    record(f"kernel-doc -Wall: no new warnings in the {len(sources)} C files"
           f" and headers the series touches ({sum(after.values())} at the"
           f" tip, {sum(before.values())} at the base)", not new,
           "\n".join(sorted(new)))

    # From scratch: Sphinx does not repeat the warnings of pages it has
    # built before.
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    p = subprocess.run(["make", "-s", "-C", tree, f"O={OUT}",
                        "SPHINXDIRS=timers", "htmldocs"], text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ours = [f for f in files if f.endswith(".rst") or f in sources]
    bad = [line for line in p.stdout.splitlines()
           if re.search(r"(WARNING|ERROR|[Ww]arning|[Ee]rror)", line)
           and any(f in line for f in ours)]
    html = os.path.join(OUT, "Documentation", "output")
    pages = [f for f in files if f.startswith("Documentation/timers/")
             and f.endswith(".rst") and not f.endswith("index.rst")]
    missing = []
    for page in pages:
        with open(os.path.join(tree, page)) as f:
            wanted = re.findall(r"^\s+:identifiers:(.*)$", f.read(), re.M)
        path = os.path.join(html, page[len("Documentation/"):-4] + ".html")
        try:
            with open(path) as f:
                built = f.read()
        except OSError:
            missing.append(f"{page}: no HTML page")
            continue
        missing += [f"{page}: {name} not documented"
                    for name in " ".join(wanted).split()
                    if f'id="c.{name}"' not in built]
    record(f"htmldocs SPHINXDIRS=timers: {len(pages)} pages of the series"
           " built, every kernel-doc identifier in them documented, no"
           " warning names the series' files", p.returncode == 0 and
           not bad and not missing and pages,
           "\n".join(bad + missing) or p.stdout[-3000:])
    return report.close()
