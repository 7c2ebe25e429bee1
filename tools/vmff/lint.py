"""Check every patch of every stack with checkpatch.pl --strict.

usage: tools/lint [--stack DIR]... [--trees DIR]

Each stack's patches (cover letters aside) go through the checkpatch.pl of
that stack's own base, run inside the stack's kernel tree: work/<stack>/linux,
or DIR/<stack>/linux with --trees DIR (tools/test passes its own trees, so
that it does not check out a second copy of each kernel).  A missing tree is
made with tools/apply-series.  Any ERROR, WARNING or
CHECK fails the run, unless tools/checkpatch.justified holds a reviewed
justification for that exact message on that patch.  The series file must
also list exactly the patches in patches/, the main stack must add
MAINTAINERS.snippet to MAINTAINERS as it stands, and the cover letter
must carry each Documentation/results/cover-*.txt as it stands.

The last line says: lint: N passed, N failed.
"""

import fnmatch
import glob
import os
import re
import subprocess

from .core import TOP, Failure, doc_parser, run
from .deps import debian_path_env, need_deps
from .report import Report
from .stacks import default_tree, read_series, stack_name, stacks

JUSTIFIED = os.path.join(TOP, "tools", "checkpatch.justified")


def read_justified():
    """[(stack, patch glob, message)] from the justification file.

    Each entry is a 'stack<TAB>patch-glob<TAB>TYPE: message' line after
    one or more '#' lines saying why the message is right to keep.
    """
    entries, why = [], []
    with open(JUSTIFIED) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("#"):
                why.append(line)
                continue
            if not line.strip():
                why = []
                continue
            parts = line.split("\t")
            if len(parts) != 3 or not why:
                raise Failure(f"{JUSTIFIED}:{n}: expected 'stack<TAB>patch"
                              "<TAB>message' after a '#' justification")
            entries.append(tuple(parts))
    return entries


def messages(output):
    """The ERROR/WARNING/CHECK lines checkpatch printed."""
    return [ln.strip() for ln in output.splitlines()
            if re.match(r"^(ERROR|WARNING|CHECK): ", ln)]


def check_series_lists_patches(stack):
    _, patches = read_series(stack)
    listed = {os.path.basename(p) for p in patches}
    present = {f for f in os.listdir(os.path.join(stack, "patches"))
               if f.endswith(".patch")}
    extra = sorted(present - listed)
    if extra:
        return [f"patches/{e} is not listed in series" for e in extra]
    return []


def check_cover_tables(stack):
    """The cover letter carries every generated table as it stands."""
    cover = os.path.join(stack, "patches", "0000-cover-letter.patch")
    tables = sorted(glob.glob(os.path.join(stack, "Documentation", "results",
                                           "cover-*.txt")))
    if not tables or not os.path.isfile(cover):
        return []
    with open(cover) as f:
        text = f.read()
    stale = []
    for path in tables:
        with open(path) as f:
            if f.read() not in text:
                stale.append(os.path.relpath(path, stack))
    if stale:
        return ["the cover letter does not carry " + ", ".join(stale)
                + " as it stands; tools/export-series (its description"
                " needs the '%include FILE' lines)"]
    return []


def check_maintainers_snippet(stack):
    """The main stack's MAINTAINERS patch adds MAINTAINERS.snippet as is."""
    snippet = os.path.join(TOP, "MAINTAINERS.snippet")
    if stack != TOP or not os.path.isfile(snippet):
        return []
    with open(snippet) as f:
        want = f.read()
    _, patches = read_series(stack)
    added = []
    for patch in patches:
        in_maintainers = False
        with open(patch) as f:
            for line in f:
                if line.startswith("diff --git "):
                    in_maintainers = line.split()[-1] == "b/MAINTAINERS"
                elif in_maintainers and line.startswith("+") and \
                        not line.startswith("+++"):
                    added.append(line[1:])
    if want not in "".join(added):
        return ["no patch adds MAINTAINERS.snippet to MAINTAINERS as it"
                " stands"]
    return []


def main():
    ap = doc_parser(__doc__)
    ap.add_argument("--stack", action="append")
    ap.add_argument("--trees", metavar="DIR",
                    help="kernel trees are DIR/<stack>/linux")
    a = ap.parse_args()
    need_deps("lint")
    if a.trees and not os.path.isdir(a.trees):
        ap.error(f"--trees {a.trees}: not a directory")
    justified = read_justified()
    used = set()
    report = Report("lint")
    for stack in [os.path.abspath(s) for s in a.stack] if a.stack \
            else stacks():
        name = stack_name(stack)
        problems = (check_series_lists_patches(stack)
                    + check_maintainers_snippet(stack)
                    + check_cover_tables(stack))
        for p in problems:
            report.add(f"{name}: series, MAINTAINERS and cover", "fail", p)
        if not problems:
            report.add(f"{name}: series, MAINTAINERS and cover", "pass")
        _, patches = read_series(stack)
        tree = (os.path.join(os.path.abspath(a.trees), name, "linux")
                if a.trees else default_tree(stack))
        if not os.path.isdir(tree):
            run([os.path.join(TOP, "tools", "apply-series"),
                 "--stack", stack, "--tree", tree])
        checkpatch = os.path.join(tree, "scripts", "checkpatch.pl")
        if not os.path.isfile(checkpatch):
            raise Failure(f"{tree}: no scripts/checkpatch.pl; not a kernel"
                          " tree (remove it, or make it with"
                          " tools/apply-series)")
        for patch in patches:
            base = os.path.basename(patch)
            if base.startswith("0000-"):
                continue
            p = subprocess.run([checkpatch, "--strict", "--color=never",
                                patch], cwd=tree, text=True,
                               capture_output=True, env=debian_path_env())
            bad = []
            for msg in messages(p.stdout):
                hit = [e for e in justified if e[0] == name and
                       fnmatch.fnmatch(base, e[1]) and e[2] == msg]
                if hit:
                    used.update(hit)
                else:
                    bad.append(msg)
            ok = not bad and (p.returncode == 0 or messages(p.stdout))
            report.check(f"{name}/{base}: checkpatch --strict", ok,
                         "" if ok else
                         "\n".join(bad or [p.stdout.strip()[-500:]]))
    for e in justified:
        if e not in used and (not a.stack):
            print(f"lint: note: justification no longer needed: {e[1]}:"
                  f" {e[2]}")
    return report.close()
