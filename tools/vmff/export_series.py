"""Export a kernel tree's commits back to a stack's patches/ and series.

usage: tools/export-series [--stack DIR] [--tree DIR] [--out DIR]

Every commit from the stack's base to HEAD of TREE (default
work/<stack>/linux) is written with 'git format-patch': numbered, with a
cover letter made from the branch description (see tools/apply-series),
the base-commit: line, and the change-id from the series header.  A line
'%include FILE' in the description is replaced by FILE, relative to the
stack (the cover letter's results table, Documentation/results/
cover-table.txt, written by tools/kunit-table).  patches/ and the series
file are then replaced by that output.

The output depends only on the commits and the description: commit ids
are zeroed and the cover letter takes its sender and date from the last
commit, so exporting an unchanged tree reproduces patches/ byte for byte.

--out DIR  write the patches to DIR instead and leave the stack alone
           (used by the test command to check the round trip).

A tree with uncommitted changes, a HEAD that does not descend from the
base, or a missing branch description is refused, and nothing is written.
"""

import filecmp
import os
import re
import shutil
import tempfile

from .core import TOP, Failure, doc_parser, git, run
from .stacks import base_of, default_tree, read_series, series_header

# Neutralise user configuration that would change format-patch output.
NEUTRAL = ["-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
           "-c", "diff.relative=false", "-c", "diff.algorithm=myers",
           "-c", "diff.renames=true", "-c", "format.signOff=false",
           "-c", "format.coverLetter=false", "-c", "format.thread=false",
           "-c", "format.useAutoBase=false", "-c", "core.abbrev=12"]


def format_patches(stack, tree, commit, keys, out):
    desc = git(tree, "config", "--get", "branch.series.description",
               check=False)
    branch = git(tree, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    if branch != "series":
        raise Failure(f"{tree}: HEAD is not branch 'series' ({branch});"
                      " check it out first")
    if not desc:
        raise Failure(f"{tree}: branch 'series' has no description (the"
                      " cover letter); set it with git branch"
                      " --edit-description")
    author = git(tree, "log", "-1", "--format=%an%x00%ae%x00%ad",
                 "--date=raw", "HEAD").split("\0")
    env = {"GIT_COMMITTER_NAME": author[0], "GIT_COMMITTER_EMAIL": author[1],
           "GIT_COMMITTER_DATE": author[2]}
    prefix = keys.get("subject-prefix", "PATCH")
    run(["git", "-C", tree] + NEUTRAL +
        ["format-patch", "-q", "--zero-commit", "--no-signature",
         "--no-to", "--no-cc", "--no-add-header",
         "--numbered", "--cover-letter", "--cover-from-description=subject",
         f"--subject-prefix={prefix}", f"--base={commit}", "-o", out,
         f"{commit}..HEAD"], env=env)
    cover = os.path.join(out, "0000-cover-letter.patch")
    with open(cover) as f:
        text = f.read()
    text = re.sub(r"^%include (\S+)\n", lambda m: included(stack, m.group(1)),
                  text, flags=re.M)
    change_id = keys.get("change-id")
    if change_id:
        text = re.sub(r"^(base-commit: \S+\n)", rf"\1change-id: {change_id}\n",
                      text, flags=re.M)
    with open(cover, "w") as f:
        f.write(text)
    return sorted(os.listdir(out))


def included(stack, name):
    """The text of a '%include FILE' line of the cover letter: FILE, from
    the stack's directory (the results table that tools/kunit-table
    writes)."""
    path = os.path.normpath(os.path.join(stack, name))
    if not path.startswith(stack + os.sep) or not os.path.isfile(path):
        raise Failure(f"cover letter: %include {name}: no such file in"
                      f" {stack}")
    with open(path) as f:
        return f.read()


def main():
    ap = doc_parser(__doc__)
    ap.add_argument("--stack", default=TOP)
    ap.add_argument("--tree")
    ap.add_argument("--out")
    a = ap.parse_args()
    stack = os.path.abspath(a.stack)
    tree = os.path.abspath(a.tree or default_tree(stack))
    read_series(stack)
    if not os.path.isdir(tree):
        raise Failure(f"{tree}: no such tree; run tools/apply-series first")
    _, _, commit = base_of(stack)
    dirty = git(tree, "status", "--porcelain", "--untracked-files=no")
    if dirty:
        raise Failure(f"{tree} has uncommitted changes; commit them"
                      f" first:\n{dirty}")
    if git(tree, "merge-base", "--is-ancestor", commit, "HEAD",
           check=False) is None:
        raise Failure(f"{tree}: HEAD does not descend from the base"
                      f" {commit[:12]}")
    header, keys = series_header(stack)

    if a.out:
        os.makedirs(a.out, exist_ok=True)
        if os.listdir(a.out):
            raise Failure(f"{a.out} is not empty")
        names = format_patches(stack, tree, commit, keys, a.out)
        print(f"export-series: {len(names)} files in {a.out}")
        return 0

    tmp = tempfile.mkdtemp(prefix="vmff-export-")
    try:
        names = format_patches(stack, tree, commit, keys, tmp)
        pdir = os.path.join(stack, "patches")
        old = sorted(f for f in os.listdir(pdir) if f.endswith(".patch")) \
            if os.path.isdir(pdir) else []
        changed = [n for n in names if n not in old or not filecmp.cmp(
            os.path.join(tmp, n), os.path.join(pdir, n), shallow=False)]
        gone = [n for n in old if n not in names]
        os.makedirs(pdir, exist_ok=True)
        for n in gone:
            os.unlink(os.path.join(pdir, n))
        for n in names:
            shutil.copyfile(os.path.join(tmp, n), os.path.join(pdir, n))
        with open(os.path.join(stack, "series"), "w") as f:
            f.writelines(header)
            f.writelines(n + "\n" for n in names)
    finally:
        shutil.rmtree(tmp)
    print(f"export-series: {len(names)} files; changed:"
          f" {' '.join(changed) or 'none'}; removed: {' '.join(gone) or 'none'}")
    return 0
