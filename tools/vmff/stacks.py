"""The stacks of patches: the main one at the top and stable/*, their
series files, and the trees and worktrees they are applied in."""

import os
import re
import subprocess

from .bases import read_bases
from .core import TOP, Failure, git, run


def stacks():
    """Every stack directory: the top level, then stable/* in order."""
    out = [TOP]
    sdir = os.path.join(TOP, "stable")
    if os.path.isdir(sdir):
        for d in sorted(os.listdir(sdir)):
            if os.path.isfile(os.path.join(sdir, d, "series")):
                out.append(os.path.join(sdir, d))
    return out


def stack_name(stack):
    """'main' for the top level, else the stable directory name."""
    stack = os.path.abspath(stack)
    return "main" if stack == TOP else os.path.basename(stack)


def patch_author(path):
    """The From: identity of an exported patch, "Name <address>"."""
    with open(path) as f:
        for line in f:
            if line.startswith("From: "):
                return line[6:].strip()
    raise Failure(f"{path}: no From: line")


def read_series(stack):
    """Return (base name, [patch paths]) for the stack in directory STACK.

    The base is named on a '# base: NAME' line at the top of 'series'; every
    other non-comment line names a file in the stack's patches/.
    """
    path = os.path.join(stack, "series")
    if not os.path.isfile(path):
        raise Failure(f"{path}: no series file")
    base, patches = None, []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if s.startswith("#"):
                key, _, val = s[1:].partition(":")
                if key.strip() == "base" and val.strip():
                    base = val.split()[0]
                continue
            if not s:
                continue
            p = os.path.join(stack, "patches", s.split()[0])
            if not os.path.isfile(p):
                raise Failure(f"{path}:{n}: names {s.split()[0]}, "
                              f"which is not in {os.path.dirname(p)}/")
            patches.append(p)
    if base is None:
        raise Failure(f"{path}: no '# base: NAME' line at the top")
    if base not in read_bases():
        raise Failure(f"{path}: base {base} is not in tools/bases.conf")
    return base, patches


def series_header(stack):
    """The comment lines at the top of STACK's series, and their keys.

    Returns (lines, {key: value}) for the '# key: value' lines.
    """
    lines, keys = [], {}
    with open(os.path.join(stack, "series")) as f:
        for line in f:
            if not line.startswith("#"):
                break
            lines.append(line)
            k, sep, v = line[1:].partition(":")
            if sep:
                keys[k.strip()] = v.strip()
    return lines, keys


def base_of(stack):
    """(base name, base git dir, base commit) for STACK, fetching it."""
    name, _ = read_series(stack)
    p = run([os.path.join(TOP, "tools", "fetch-base"), name], capture=True)
    gitdir, commit = p.stdout.strip().splitlines()[-1].split()
    return name, gitdir, commit


def kernel_tree(path, need_git=False):
    """PATH made absolute, if it is a kernel tree (its top-level Kbuild;
    with NEED_GIT, also the top of a git work tree).  Otherwise a Failure
    naming it, and how to make one."""
    tree = os.path.abspath(path)
    what = "kernel git tree" if need_git else "kernel tree"
    if not os.path.isfile(os.path.join(tree, "Kbuild")) or (
            need_git and git(tree, "rev-parse", "--show-toplevel",
                             check=False) != os.path.realpath(tree)):
        raise Failure(f"{tree}: not a {what} (make it with"
                      " tools/apply-series)")
    return tree


def default_tree(stack):
    """Where a stack's kernel tree lives: work/<stack>/linux."""
    return os.path.join(TOP, "work", stack_name(stack), "linux")


def sparse_am(tree, wt, base, patches, env=None):
    """git am of the mbox files PATCHES on BASE in a new worktree WT of
    TREE, with only the directories they touch checked out (a sparse
    cone; the top-level files come with it): git am needs no more, the
    commits' trees are whole all the same, and writing the other 80,000
    files of a kernel tree cost 40 s.  Returns the CompletedProcess of
    the first step that failed, or of git am."""
    dirs = set()
    for path in patches:
        with open(path, errors="replace") as f:
            dirs.update(os.path.dirname(d) for d in
                        re.findall(r"(?m)^diff --git a/(\S+) ", f.read()))
    dirs.discard("")
    full_env = dict(os.environ, **(env or {}))
    for cmd in (["git", "-C", tree, "worktree", "add", "-q", "--no-checkout",
                 "--detach", wt, base],
                ["git", "-C", wt, "sparse-checkout", "set", "--cone"]
                + sorted(dirs),
                ["git", "-C", wt, "checkout", "-q"],
                ["git", "-C", wt, "am", "-q"] + list(patches)):
        p = subprocess.run(cmd, text=True, capture_output=True,
                           env=full_env)
        if p.returncode:
            break
    return p
