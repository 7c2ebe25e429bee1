"""A QEMU guest of a kernel tree: its kernel build (tools/guest.config),
its initramfs, and QEMU with its console.  guest-run, guest-ways and
qemu-vmclock boot the same kernel."""

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import time

from .build import compiler, compiler_env
from .core import TOP, Failure, git, run


FRAGMENT = os.path.join(TOP, "tools", "guest.config")
BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "mount", "mkdir", "cat", "echo", "timeout", "reboot",
           "date", "uname", "sleep", "killall", "ls", "dmesg", "hwclock",
           "insmod", "rmmod", "grep"]


# Seconds QEMU gets beyond the sum of the test timeouts: boot, shutdown.
BOOT_MARGIN = 180


def kernel_dir(tree, top, label):
    """TOP/kernel, the label's kernel build, made a link to a directory in
    TREE, .guest-kernel-LABEL (the kernel's .gitignore hides it): a build
    in a subdirectory of its tree names the sources '../', so that ccache
    finds the objects of one tree's build for another's.  The series'
    guest kernel then reuses the base's objects wherever the series
    changes nothing a file includes."""
    real = os.path.join(tree, f".guest-kernel-{label}")
    out = os.path.join(top, "kernel")
    os.makedirs(real, exist_ok=True)
    if os.path.islink(out):
        if os.path.realpath(out) == os.path.realpath(real):
            return out
        os.unlink(out)
    elif os.path.isdir(out):
        # A build of an earlier layout, or of another tree
        shutil.rmtree(out)
    os.makedirs(top, exist_ok=True)
    os.symlink(real, out)
    return out


def build_kernel(tree, out):
    """Configure (when the fragment changed) and build bzImage in OUT."""
    os.makedirs(out, exist_ok=True)
    make = ["make", "-s", "-C", tree, f"O={out}", "ARCH=x86_64",
            f"CC={compiler()}"]
    with open(FRAGMENT, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(out, ".guest-config-sha256")
    if not (os.path.exists(stamp) and open(stamp).read() == digest):
        run(make + [f"KCONFIG_ALLCONFIG={FRAGMENT}", "allnoconfig"],
            env=compiler_env())
        check_config(tree, out)
        with open(stamp, "w") as f:
            f.write(digest)
    run(make + [f"-j{os.cpu_count() or 2}", "bzImage", "modules", "headers"],
        env=compiler_env())
    return os.path.join(out, "arch", "x86", "boot", "bzImage")


def check_config(tree, out):
    """Every symbol the fragment asks for must be what .config has."""
    with open(os.path.join(out, ".config")) as f:
        have = f.read()
    wrong = []
    with open(FRAGMENT) as f:
        for line in f:
            optional = line.rstrip().endswith("# optional")
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            sym = line.split("=", 1)[0]
            if not re.search(rf"^{re.escape(line)}$", have, re.M):
                if optional and not symbol_exists(tree, sym):
                    continue
                wrong.append(line)
    if wrong:
        raise Failure("the guest kernel config lost: " + " ".join(wrong)
                      + f"\n(check their dependencies; {out}/.config)")


def symbol_exists(tree, sym):
    name = sym[len("CONFIG_"):]
    p = subprocess.run(["git", "-C", tree, "grep", "-q", "-E",
                        rf"^(menu)?config {name}$", "--", "*Kconfig*"])
    return p.returncode == 0


# What a finished --build-only was built from, for --boot-only to check.
BUILT_FROM = "built-from.json"


def built_from(tree):
    """The tree, its commit, whether it has changes, and the guest
    config: what a guest built from it depends on."""
    with open(FRAGMENT, "rb") as f:
        fragment = hashlib.sha256(f.read()).hexdigest()
    return {"tree": os.path.realpath(tree),
            "head": git(tree, "rev-parse", "HEAD", check=False) or "",
            "dirty": git(tree, "status", "--porcelain",
                         "--untracked-files=no", check=False) != "",
            "fragment": fragment}


def built_record(top):
    """What the guest kernel in TOP was built from (built_from(), as
    --build-only recorded it), or None."""
    try:
        with open(os.path.join(top, BUILT_FROM)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def built_before(tree, top):
    """What --build-only left in TOP: the kernel image, whether every
    selftest built, and the provider module (None when the tree has no
    feed); Failure when it is not there."""
    kernel = os.path.join(top, "kernel", "arch", "x86", "boot", "bzImage")
    log = os.path.join(top, "selftests", "build.log")
    provider = os.path.join(top, "provider", "vmclock_test_provider.ko")
    if not symbol_exists(tree, "CONFIG_PTP_1588_CLOCK_VMCLOCK_FEED"):
        provider = None
    for path in (kernel, log, provider):
        if path and not os.path.exists(path):
            raise Failure(f"--boot-only: {os.path.relpath(path, TOP)} is"
                          " missing; build it first with --build-only")
    stamp = os.path.join(top, BUILT_FROM)
    try:
        with open(stamp) as f:
            was = json.load(f)
    except (OSError, ValueError):
        was = None
    if was != built_from(tree):
        raise Failure(f"--boot-only: {os.path.relpath(top, TOP)} was not"
                      f" built by --build-only from {tree} as it is now"
                      f" (built from: {was}); build it again with"
                      " --build-only")
    with open(log) as f:
        built = f.read().endswith("\nmake exited with 0\n")
    return kernel, built, provider


def built_modules(out):
    """The .ko files the kernel build in OUT made."""
    mods = []
    for d, _, files in os.walk(out):
        mods += [os.path.join(d, f) for f in files if f.endswith(".ko")]
    return sorted(mods)


class Cpio:
    """A newc-format archive built in memory; no root needed for nodes."""

    def __init__(self):
        self.data = bytearray()
        self.ino = 1

    def _entry(self, name, mode, body=b"", rdev=(0, 0), nlink=1):
        fields = [self.ino, mode, 0, 0, nlink, 0, len(body), 0, 0,
                  rdev[0], rdev[1], len(name) + 1, 0]
        self.ino += 1
        hdr = "070701" + "".join(f"{v:08x}" for v in fields)
        self.data += hdr.encode() + name.encode() + b"\0"
        self.data += b"\0" * (-len(self.data) % 4)
        self.data += body
        self.data += b"\0" * (-len(self.data) % 4)

    def dir(self, name):
        self._entry(name, stat.S_IFDIR | 0o755, nlink=2)

    def file(self, name, body, mode=0o755):
        self._entry(name, stat.S_IFREG | mode, body)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor):
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        self.data += b"\0" * (-len(self.data) % 512)
        return bytes(self.data)


def qemu_command(kernel, initramfs, smp):
    return ["qemu-system-x86_64", "-accel", "tcg", "-m", "512",
            "-smp", str(smp), "-nographic", "-no-reboot", "-monitor", "none",
            "-kernel", kernel, "-initrd", initramfs,
            "-append", "console=ttyS0 panic=-1 oops=panic loglevel=4"]


def boot(cmd, log_path, limit):
    """Run QEMU, stream its console to LOG_PATH; (lines, seconds, why).

    LINES are (monotonic time, text); WHY is None for a clean exit,
    otherwise what went wrong.
    """
    lines = []
    start = time.monotonic()
    why = None
    with open(log_path, "w") as log:
        log.write("# " + " ".join(cmd) + "\n")
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        os.set_blocking(p.stdout.fileno(), False)
        buf = b""
        while True:
            if time.monotonic() - start > limit:
                p.kill()
                why = f"guest still running after {limit} s; killed"
                break
            chunk = p.stdout.read()
            if chunk:
                buf += chunk
                *done, buf = buf.split(b"\n")
                for raw in done:
                    text = raw.decode(errors="replace").rstrip("\r")
                    lines.append((time.monotonic(), text))
                    log.write(text + "\n")
                log.flush()
            elif p.poll() is not None:
                break
            else:
                time.sleep(0.05)
        rest = p.stdout.read() or b""
        for raw in (buf + rest).split(b"\n"):
            if raw:
                text = raw.decode(errors="replace").rstrip("\r")
                lines.append((time.monotonic(), text))
                log.write(text + "\n")
        p.wait()
        if why is None and p.returncode != 0:
            why = f"QEMU exited with status {p.returncode}"
    return lines, time.monotonic() - start, why
