"""List Debian's own changes to the kernel that touch what a stack touches.

usage: tools/debian-changes [--check] [STACK]...

The bases are Debian's linux-source tarballs: upstream's release with
Debian's patches applied.  A reader applying the series to the upstream
tag must know whether any of those patches touch the files the series
touches.  The tarball carries no debian/patches/; the package's own
changelog (usr/share/doc/PACKAGE/changelog.Debian.gz) is what says what
Debian changed, so that is what this reads, for each STACK (default:
the main stack and every stable/* one), from the pinned .deb that
tools/fetch-base verified:

  - every entry's items are split into upstream's (the lists under 'New
    upstream release' and 'New upstream stable update', which are in the
    upstream tag too) and Debian's own (every other item: added patches,
    configuration, packaging);
  - Debian's own items that name a file the stack's patches touch, its
    directory, or the name of a C file or header it touches (timekeeping,
    ntp, ptp_vmclock ...: the prefix a kernel changelog line carries) are
    listed with their version, each as one of:
      configuration  an option switched in Debian's config files (Enable,
                     Disable, built in, as module), which no source file
                     of the tarball carries;
      packaging      debian/ itself (d/..., salsa-ci);
      change         anything else: possibly a patch to the source.

The changelog goes back through every earlier version of the source
package, and an item cannot tell whether its patch is still applied:
what is listed is what to read in debian/patches/ of that version.  With
--check, exits 1 when any item is a change, after printing
'debian-changes: N passed, N failed' (a stack with none passes).
"""

import gzip
import os
import re
import subprocess
import sys

from .bases import download, read_bases
from .core import Failure
from .deps import need_deps
from .report import Report
from .stacks import read_series, stack_name, stacks

ENTRY = re.compile(r"^(\S+) \(([^)]+)\) [^;]*;")
UPSTREAM = re.compile(r"new upstream (release|stable update|version)", re.I)
# Parts of a path too common to mean anything in a changelog line
GENERIC = {"Makefile", "Kconfig", "MAINTAINERS", "index", ".gitignore",
           ".kunitconfig", "linux", "include", "uapi", "kernel", "time",
           "drivers", "tools", "testing", "selftests", "Documentation"}


def touched(patches):
    """The files the patches touch, from their diff headers."""
    files = set()
    for p in patches:
        with open(p, errors="replace") as f:
            for line in f:
                m = re.match(r"diff --git a/(\S+) b/", line)
                if m:
                    files.add(m.group(1))
    return sorted(files)


def terms(files):
    """The words that name those files in a changelog: each path, its
    directory, and the name of each C file or header without suffix (and
    without _test, _kunit); a document's name (index, reference) is too
    common a word."""
    out = set()
    for path in files:
        out.add(path)
        d = os.path.dirname(path)
        if d.count("/") >= 1:
            out.add(d)
        stem, suffix = os.path.splitext(os.path.basename(path))
        if suffix in (".c", ".h") and stem not in GENERIC:
            out.add(stem)
            out.add(re.sub(r"_(test|kunit)$", "", stem))
    return sorted(t for t in out if t and t not in GENERIC)


CONFIGURATION = re.compile(r"\b(Enable|Disable|Re-enable|builtin|built-in|"
                           r"as modules?)\b")
PACKAGING = re.compile(r"^(d/|debian/)|salsa-ci")


def kind(item):
    """configuration, packaging or change: see --help."""
    if PACKAGING.search(item):
        return "packaging"
    if CONFIGURATION.search(item):
        return "configuration"
    return "change"


def changelog(deb, package):
    """The changelog.Debian text of the .deb DEB."""
    member = f"./usr/share/doc/{package}/changelog.Debian.gz"
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb],
                         capture_output=True)
    if tar.returncode:
        raise Failure(f"{deb}: dpkg-deb failed:"
                      f" {tar.stderr.decode(errors='replace').strip()}")
    got = subprocess.run(["tar", "-xO", member], input=tar.stdout,
                         capture_output=True)
    if got.returncode or not got.stdout:
        raise Failure(f"{deb}: no {member} in it")
    return gzip.decompress(got.stdout).decode("utf-8", errors="replace")


def items(text):
    """[(version, upstream?, item text)]: every top-level item of every
    entry, and every sub-item, the sub-items of an upstream list marked
    upstream."""
    out = []
    version, upstream, cur = None, False, None

    def flush():
        if cur is not None:
            out.append((version, cur[0], " ".join(cur[1])))

    for line in text.splitlines():
        m = ENTRY.match(line)
        if m:
            flush()
            version, upstream, cur = m.group(2), False, None
            continue
        if version is None or not line.strip() or line.startswith(" --"):
            continue
        top = re.match(r"^  \* (.*)", line)
        sub = re.match(r"^    [-*+] (.*)", line)
        if top:
            flush()
            upstream = bool(UPSTREAM.search(top.group(1)))
            cur = (upstream, [top.group(1).strip()])
        elif sub:
            flush()
            cur = (upstream, [sub.group(1).strip()])
        elif re.match(r"^  \[ .* \]$", line):
            flush()
            upstream, cur = False, None
        elif cur is not None:
            cur[1].append(line.strip())
    flush()
    return out


def matches(text, words):
    return [w for w in words
            if re.search(r"(?<![\w/.-])" + re.escape(w) + r"(?![\w-])",
                         text)]


def main():
    args = sys.argv[1:]
    if any(a in ("-h", "--help") for a in args):
        print(__doc__.strip())
        return 0
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    bad = [a for a in args if a.startswith("-")]
    if bad:
        raise Failure(f"unknown option {bad[0]}; see --help")
    all_stacks = stacks()
    chosen = [os.path.abspath(a) for a in args] or all_stacks
    for c, a in zip(chosen, args):
        if c not in all_stacks:
            raise Failure(f"{a}: not a stack (the top level or stable/*"
                          " with a series file)")
    need_deps("debian-changes")
    need_deps("fetch-base")
    bases = read_bases()
    report = Report("debian-changes") if check else None
    for stack in chosen:
        name, patches = read_series(stack)
        base = bases[name]
        deb = download(base)
        words = terms(touched(patches))
        everything = items(changelog(deb, base["package"]))
        own = [(v, t) for v, up, t in everything if not up]
        found = [(v, t, matches(t, words)) for v, t in own]
        found = [(v, t, why, kind(t)) for v, t, why in found if why]
        changes = [f for f in found if f[3] == "change"]
        versions = {v for v, _, _ in everything}
        print(f"{stack_name(stack)}: {base['package']} {base['version']}:"
              f" {len(versions)} changelog entries, {len(own)} items of"
              f" Debian's own, {len(everything) - len(own)} of upstream's")
        print(f"  looked for: {' '.join(words)}")
        for v, t, why, k in found:
            print(f"  {k}: {v}: {t[:150]}  [{', '.join(why)}]")
        if changes:
            print(f"  {len(changes)} of Debian's own items may change what"
                  " the stack touches; read them in that version's"
                  " debian/patches/")
        else:
            print("  none of Debian's own items changes a source file the"
                  " stack touches" + (f" ({len(found)} switch options or"
                                      " packaging)" if found else ""))
        if report:
            report.check(f"{stack_name(stack)}: no item of Debian's own"
                         " may change a file the stack touches",
                         not changes, f"{len(changes)} may")
    return report.close() if report else 0
