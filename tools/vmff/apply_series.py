"""Build a kernel git tree from a stack's base and apply its series.

usage: tools/apply-series [--stack DIR] [--tree DIR] [--b4] [--upto N]

The base named at the top of DIR/series (default: the main stack at the top
of this repository) is fetched with tools/fetch-base and cloned into TREE
(default: work/<stack>/linux), whose first commit is then the base.  Branch
'series' is reset to the base and every patch of the series is applied with
'git am', in order.  The cover letter is not a commit: its subject and text
become the branch description, which tools/export-series writes back.

--b4     the reviewer's round trip instead: the series is written as one
         mbox, fetched from it with 'b4 --offline-mode am', and the result
         applied with 'git am' on branch 'b4' from the base.  The tree that
         gives must equal the one 'series' gives.
--upto N apply only the first N patches (bisection builds).

A tree with uncommitted changes is refused.  The previous tip of 'series'
is kept as 'series-prev' so no committed work is lost.  A patch that does
not apply stops the run, naming the patch file and the hunk that failed.
"""

import glob
import os
import re
import shutil
import subprocess
import tempfile

from .core import TOP, Failure, doc_parser, git, run
from .deps import need_deps
from .stacks import base_of, default_tree, read_series


def prepare_tree(tree, gitdir, commit):
    """Make TREE a clone of the base repository, clean."""
    if not os.path.exists(tree):
        os.makedirs(os.path.dirname(tree), exist_ok=True)
        run(["git", "clone", "-q", "--shared", "--no-checkout", gitdir, tree])
        git(tree, "checkout", "-q", "-b", "series", commit)
        return
    if git(tree, "rev-parse", "--git-dir", check=False) is None:
        raise Failure(f"{tree} exists and is not a git tree")
    if git(tree, "cat-file", "-e", commit + "^{commit}", check=False) is None:
        git(tree, "fetch", "-q", gitdir, commit)
    # This tool's own git am aborts when a patch fails (am() below) and
    # marks the time it runs: one in progress without the mark is a
    # developer's, whose work an abort would throw away.  With the mark,
    # it is a run of this tool that was stopped half way.
    mark = own_am_mark(tree)
    for state, what in (("rebase-apply", "git am (or a rebase)"),
                        ("rebase-merge", "a rebase")):
        path = os.path.join(tree, git(tree, "rev-parse", "--git-path",
                                      state))
        if os.path.isdir(path) and os.path.exists(mark):
            print(f"apply-series: aborting the git am an earlier run left"
                  f" in {tree}")
            git(tree, "am", "--abort", check=False)
            # What --abort could not undo is this tool's to drop
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.isdir(path):
            raise Failure(f"{tree}: {what} is in progress ({path}); finish"
                          " it or abort it there first, this tool will"
                          " not")
    if os.path.exists(mark):
        os.unlink(mark)
    dirty = git(tree, "status", "--porcelain", "--untracked-files=no")
    if dirty:
        raise Failure(f"{tree} has uncommitted changes; commit and export"
                      f" them first:\n{dirty}")


def cover_description(path):
    """The branch description a cover letter was generated from."""
    with open(path) as f:
        text = f.read()
    head, _, body = text.partition("\n\n")
    m = re.search(r"^Subject: (?:\[[^]]*\] )?(.*(?:\n .*)*)$", head, re.M)
    if not m:
        raise Failure(f"{path}: no Subject: header")
    subject = re.sub(r"\n ", " ", m.group(1)).strip()
    # The text ends where format-patch's shortlog begins: "Name (N):".
    m = re.search(r"^\S.* \(\d+\):$", body, re.M)
    if m:
        body = body[:m.start()]
    # Fold the generated tables back into the '%include FILE' lines that
    # tools/export-series expanded, so that the next export takes the
    # tables as they are then.
    stack = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    for inc in sorted(glob.glob(os.path.join(stack, "Documentation",
                                             "results", "cover-*.txt"))):
        with open(inc) as f:
            table = f.read()
        if table and table in body:
            body = body.replace(table, f"%include {os.path.relpath(inc, stack)}"
                                "\n", 1)
    return subject + "\n\n" + body.strip() + "\n"


def hunk_failure(tree, patch):
    """What 'git apply' says about the hunk of PATCH that fails."""
    p = subprocess.run(["git", "-C", tree, "apply", "--check", "-v", patch],
                       text=True, capture_output=True)
    lines = [ln for ln in (p.stderr + p.stdout).splitlines()
             if ln.startswith("error:") or "does not apply" in ln
             or ln.startswith("Hunk") or "patch failed" in ln]
    return "\n".join(lines) or (p.stderr + p.stdout).strip()


def own_am_mark(tree):
    """The file that says a git am in TREE is this tool's."""
    return os.path.join(tree, git(tree, "rev-parse", "--git-path",
                                  "vmff-apply-series-am"))


def am(tree, patch, label):
    env = {"GIT_COMMITTER_NAME": "vmclock-ff tools",
           "GIT_COMMITTER_EMAIL": "tools@vmclock-ff.invalid"}
    mark = own_am_mark(tree)
    with open(mark, "w") as f:
        f.write(f"{os.getpid()}\n")
    p = run(["git", "-C", tree, "am", "-q", "--committer-date-is-author-date",
             patch], env=env, check=False, capture=True)
    if p.returncode != 0:
        why = hunk_failure(tree, patch)
        git(tree, "am", "--abort", check=False)
        os.unlink(mark)
        raise Failure(f"{label} does not apply:\n{why}")
    os.unlink(mark)


def is_cover(path):
    with open(path) as f:
        head = f.read(4096).partition("\n\n")[0]
    return re.search(r"^Subject: \[[^]]* 0+/\d+\]", head, re.M) is not None


def apply_series(tree, commit, patches, upto):
    old = git(tree, "rev-parse", "-q", "--verify", "refs/heads/series",
              check=False)
    if old and old != commit:
        git(tree, "branch", "-f", "series-prev", old)
    git(tree, "checkout", "-q", "-f", "-B", "series", commit)
    n = 0
    for patch in patches:
        if is_cover(patch):
            git(tree, "config", "branch.series.description",
                cover_description(patch))
            continue
        if upto is not None and n >= upto:
            break
        am(tree, patch, os.path.relpath(patch, TOP))
        n += 1
    print(f"apply-series: {n} patches applied on {commit[:12]} in {tree}")


def b4_round_trip(tree, commit, patches):
    """Apply the series the way a reviewer would, through b4."""
    tmp = tempfile.mkdtemp(prefix="vmff-b4-")
    try:
        mbox = os.path.join(tmp, "series.mbox")
        with open(mbox, "w") as out:
            for i, patch in enumerate(patches):
                with open(patch) as f:
                    text = f.read()
                # format-patch without --thread writes no Message-Id; b4
                # threads on them, so give each mail a stable one.
                head, sep, body = text.partition("\n\n")
                # Unfold the headers (RFC 5322 2.2.3): b4 0.12 cannot
                # copy a folded Subject: into the messages it writes.
                head = re.sub(r"\n[ \t]+", " ", head)
                msgid = f"<vmff-{i}@series.invalid>"
                head += f"\nMessage-Id: {msgid}"
                if i:
                    head += ("\nIn-Reply-To: <vmff-0@series.invalid>"
                             "\nReferences: <vmff-0@series.invalid>")
                out.write(head + sep + body)
                if not body.endswith("\n"):
                    out.write("\n")
        outdir = os.path.join(tmp, "out")
        os.makedirs(outdir)
        p = run(["b4", "--offline-mode", "--no-stdin", "am", "-m", mbox,
                 "-o", outdir, "<vmff-0@series.invalid>"], capture=True,
                check=False)
        got = [f for f in os.listdir(outdir)] if os.path.isdir(outdir) else []
        mbx = [os.path.join(outdir, f) for f in got if f.endswith(".mbx")]
        if p.returncode != 0 or len(mbx) != 1:
            raise Failure("b4 am gave no series:\n" + p.stdout + p.stderr)
        git(tree, "checkout", "-q", "-f", "-B", "b4", commit)
        am(tree, mbx[0], "the b4 mbox")
    finally:
        shutil.rmtree(tmp)
    mine = git(tree, "rev-parse", "series^{tree}")
    theirs = git(tree, "rev-parse", "b4^{tree}")
    n_mine = git(tree, "rev-list", "--count", f"{commit}..series")
    n_theirs = git(tree, "rev-list", "--count", f"{commit}..b4")
    git(tree, "checkout", "-q", "-f", "series")
    if mine != theirs or n_mine != n_theirs:
        raise Failure(f"b4 round trip differs: {n_theirs} commits, tree"
                      f" {theirs}; git am gave {n_mine} commits, tree {mine}")
    print(f"apply-series: b4 round trip gives the same {n_mine} commits'"
          f" tree {mine[:12]}")


def main():
    ap = doc_parser(__doc__)
    ap.add_argument("--stack", default=TOP)
    ap.add_argument("--tree")
    ap.add_argument("--b4", action="store_true")
    ap.add_argument("--upto", type=int)
    a = ap.parse_args()
    need_deps("apply-series")
    stack = os.path.abspath(a.stack)
    tree = os.path.abspath(a.tree or default_tree(stack))
    _, patches = read_series(stack)
    _, gitdir, commit = base_of(stack)
    prepare_tree(tree, gitdir, commit)
    if a.b4:
        if git(tree, "rev-parse", "-q", "--verify", "series",
               check=False) is None:
            apply_series(tree, commit, patches, None)
        b4_round_trip(tree, commit, patches)
    else:
        apply_series(tree, commit, patches, a.upto)
    return 0
