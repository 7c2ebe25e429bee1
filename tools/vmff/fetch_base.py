"""Fetch a kernel base by name and make it a one-commit git repository.

usage: tools/fetch-base [--list] NAME

NAME is a base from tools/bases.conf (v7.3.4, v7.2.13, v6.12.117, v6.1.192).
The Debian linux-source package pinned there is downloaded with a private
apt configuration (the system's own is left alone), checked against its
pinned sha256, and its tarball committed as the single commit of a bare
repository under .cache/bases/NAME.git, tagged 'base'.  A second run finds
both the download and the repository in .cache/ and does nothing.

Suites the machine's apt sources do not list (trixie-backports, sid) are
fetched from the archive URI those sources already name, verified with the
machine's Debian archive keyring.

With LINUX_TREE=/path/to/linux.git (and optionally LINUX_REV, default the
tag NAME) no download happens: the user's own repository is the base.

Prints the repository path and base commit on the last line:
    <git dir> <commit>
"""

import os
import sys

from .bases import download, make_repo, read_bases, user_tree
from .core import Failure, git
from .deps import need_deps


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if args else 2
    bases = read_bases()
    need_deps("fetch-base")
    if args[0] == "--list":
        for b in bases.values():
            print("{name:10} {package:18} {version:22} {suite}".format(**b))
        return 0
    if len(args) != 1:
        raise Failure("expected exactly one base name; see --help")
    name = args[0]
    if name not in bases:
        raise Failure(f"unknown base '{name}'; known: {', '.join(bases)}")
    if os.environ.get("LINUX_TREE"):
        gitdir, commit = user_tree(name)
    else:
        gitdir = make_repo(bases[name], download(bases[name]))
        commit = git(gitdir, "rev-parse", "base^{commit}")
    print(gitdir, commit)
    return 0
