"""Provide a QEMU with '-device vmclock' (9.2 or later) on this machine.

usage: tools/fetch-qemu

Bookworm's QEMU (7.2) has no vmclock device.  As root, this makes a
minimal trixie tree with debootstrap in .cache/qemu-trixie (without the
debootstrap package it stops and names it: tools/install-deps), installs
Debian's qemu-system-x86 and qemu-utils from trixie-backports in it with their
firmware (seabios, ipxe-qemu), and writes the wrappers run-qemu and
run-qemu-img there.  They run QEMU and qemu-img from the host through the
tree's own dynamic loader and libraries: no
chroot and no mounts, so host paths given to -kernel or -initrd work as
they are.  A link usr/lib/x86_64-linux-gnu/qemu-bundle -> ../../.. makes
QEMU find its firmware and modules in the tree, not the host's.  Packages
come from the archive URI the machine's apt sources name, verified with
the machine's Debian archive keyring.

A second run finds the wrappers and does nothing.  Prints the tree and the
QEMU version, then on the last line the command that runs this QEMU:
    <tree>/run-qemu
"""

import os
import shutil
import sys

from .bases import KEYRING, archive_uri
from .core import CACHE, Failure, run
from .deps import need_deps

SUITE = "trixie"
PACKAGE = "qemu-system-x86"         # seabios, ipxe-qemu: its dependencies
TOOLS = "qemu-utils"                # qemu-img, for savevm's qcow2 image
MIN_VERSION = "1:9.2"               # the first QEMU with -device vmclock
TREE = os.path.join(CACHE, "qemu-trixie")
WRAPPER = os.path.join(TREE, "run-qemu")
IMG_WRAPPER = os.path.join(TREE, "run-qemu-img")

WRAPPER_TEXT = """\
#!/bin/sh
# Run the trixie-backports QEMU of this tree from the host, through the
# tree's own dynamic loader and libraries.  Written by tools/fetch-qemu.
d=$(dirname "$(readlink -f "$0")")
lib=$d/usr/lib/x86_64-linux-gnu
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" \\
	"$d/usr/bin/{program}" "$@"
"""


def mounts_under(path):
    """Mount points at or below PATH.

    debootstrap mounts /proc, /sys and maybe /dev in its target; after a
    crash, removing the tree with them in place would reach the host's.
    """
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def version(tree):
    p = run(["dpkg-query", f"--admindir={tree}/var/lib/dpkg", "-W",
             "-f=${Version}", PACKAGE], capture=True, check=False)
    return p.stdout.strip() if p.returncode == 0 else None


def build():
    if os.geteuid() != 0:
        raise Failure("debootstrap and chroot need root; run this as root")
    need_deps("fetch-qemu")
    tmp = TREE + ".tmp"
    left = mounts_under(tmp) + mounts_under(TREE)
    if left:
        raise Failure("mounts left by an interrupted run:\n  "
                      + "\n  ".join(left) + "\nunmount them, then run again")
    shutil.rmtree(tmp, ignore_errors=True)
    uri = archive_uri(SUITE)
    run(["debootstrap", "--variant=minbase", f"--keyring={KEYRING}", SUITE,
         tmp, uri])
    if not os.path.isfile(tmp + KEYRING):
        raise Failure(f"the {SUITE} tree has no {KEYRING}")
    # One sources file for both suites, each signed-by the tree's keyring.
    os.unlink(os.path.join(tmp, "etc/apt/sources.list"))
    with open(os.path.join(tmp, "etc/apt/sources.list.d/debian.sources"),
              "w") as f:
        f.write(f"Types: deb\nURIs: {uri}\nSuites: {SUITE} {SUITE}-backports"
                f"\nComponents: main\nSigned-By: {KEYRING}\n")
    env = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8",
           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    apt = ["chroot", tmp, "apt-get", "-q", "-y", "-o", "Dpkg::Use-Pty=0"]
    run(apt + ["update"], env=env)
    run(apt + ["install", "--no-install-recommends", "-t",
               f"{SUITE}-backports", PACKAGE, TOOLS], env=env)
    run(apt + ["clean"], env=env)
    lists = os.path.join(tmp, "var/lib/apt/lists")
    shutil.rmtree(lists)
    os.makedirs(os.path.join(lists, "partial"))
    ver = version(tmp)
    if run(["dpkg", "--compare-versions", ver or "0", "ge", MIN_VERSION],
           check=False, quiet=True).returncode != 0:
        raise Failure(f"{PACKAGE} {ver} in {SUITE}-backports is older than"
                      f" {MIN_VERSION}, which brought -device vmclock")
    # Run through the loader, QEMU takes the loader's directory for its own
    # and looks for a 'qemu-bundle' there before its built-in /usr paths:
    # this link keeps its firmware, data and modules (never the host's
    # bookworm QEMU modules) in the tree.
    os.symlink("../../..", os.path.join(tmp, "usr/lib/x86_64-linux-gnu",
                                        "qemu-bundle"))
    for name, program in (("run-qemu", "qemu-system-x86_64"),
                          ("run-qemu-img", "qemu-img")):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(WRAPPER_TEXT.format(program=program))
        os.chmod(os.path.join(tmp, name), 0o755)
    p = run([os.path.join(tmp, "run-qemu"), "-device", "help"],
            capture=True, check=False)
    if p.returncode != 0 or '"vmclock"' not in p.stdout:
        raise Failure(f"the wrapper's QEMU {ver} lists no vmclock device:\n"
                      f"{(p.stderr or p.stdout).strip()[-2000:]}")
    shutil.rmtree(TREE, ignore_errors=True)
    os.rename(tmp, TREE)


def main():
    args = sys.argv[1:]
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if args:
        raise Failure(f"no arguments expected, got: {' '.join(args)};"
                      " see --help")
    if not (os.access(WRAPPER, os.X_OK) and os.access(IMG_WRAPPER, os.X_OK)):
        build()
    ver = version(TREE)
    print(f"{TREE}: {PACKAGE} {ver}")
    print(WRAPPER)
    return 0
