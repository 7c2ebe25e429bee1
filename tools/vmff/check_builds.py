"""Build the main stack patch by patch, and its tip with every warning on.

usage: tools/check-builds [--tree DIR] [--keep-going]

TREE (default work/main/linux) holds the applied series on branch
'series'.  The commits of 'series' are checked out one by one in a
worktree of TREE's repository, build/check-builds/tree, so that TREE
itself is never touched: its checkout, its uncommitted changes and a
guest kernel being built or booted from it at the same time are safe.
The worktree is kept between runs (make then rebuilds only what the
commits change) and made again when it belongs to another repository.

Bisectability: at the base and after every patch, the directories whose C
files the series touches (kernel/time/, drivers/ptp/) are compiled for
x86_64 in three configurations, each a Kconfig fragment over allnoconfig
(a patch that changes only tools/testing/, Documentation/timers/ or
MAINTAINERS compiles as its parent did, so it is not compiled again):
  y  every option the series adds or uses built in, its KUnit suites too;
  m  the tristates as modules (VMCLOCK_HOST, its KUnit suite,
     TIME_REFERENCE_DEV, PTP and ptp_vmclock), the bools on;
  n  the series' options off: no vmclock_host, ptp_vmclock without the
     feed, no KUnit.
A patch that touches the timers selftests or a uapi header also builds
the timers selftests against that patch's headers.

32-bit: at the base and after every patch the same directories are also
compiled for i386 and for 32-bit arm (arm-linux-gnueabihf-gcc, ARMv7 with
the architected timer), every option the series adds built in but
ptp_vmclock, which needs 128-bit integers.  A 64-bit division written
with '/' or '%' compiles there but links against a libgcc helper the
kernel does not have (__udivdi3, __aeabi_uldivmod and the like): the
build robots' first complaint about a series.  So every object built is
read for relocations against those helpers, and one is a failure that
names the object and the helper.  These builds run beside the x86_64
ones of the same commit, one job each: a patch's x86_64 builds mostly
wait on one large file, and leave the other core idle.

At the tip, vmlinux and its modules are also linked with the series'
options off, so that a missing stub or export, or a user of a changed
header elsewhere in the kernel, shows up: in the guest's configuration
(tools/guest.config) without the series' own symbols, which is the
configuration the base's guest kernel is built in, so that ccache finds
most objects there (see link() below).  The test command links the
options on already: the x86_64 KUnit kernel has everything built in,
and the guest kernel has vmclock_host and ptp_vmclock as modules,
through modpost.

A build directory is configured again only when its fragment or a
Kconfig file changed since it last was.

Warnings: at the base and at the tip, the same directories are compiled
with W=1 and sparse (C=2) for x86_64, and with W=1 for arm64 with
aarch64-linux-gnu-gcc.  A warning in a file the series touches that the
base did not have fails the run; the two lists are compared with line
numbers left out, a header's warning counted once.  Debian's sparse 0.6.4
predates __typeof_unqual__, which the kernel's headers use, and cannot
evaluate __builtin_strlen() in the static_assert() of every MODULE_*()
line; the sparse run maps the first to __typeof__ and the second to
sizeof - 1, so that sparse gets through the files at all.

Build directories are build/check-builds/<config>, beside the worktree,
so that ccache (see vmff.build.compiler_env) hits across clones.  Each step
prints its wall time, and the line before the last adds them up by kind
(each configuration's per-patch builds, the selftests, the warning builds,
the tip's link).  The last line says:
check-builds: N passed, N failed.
"""

import collections
import fcntl
import os
import re
import shutil
import subprocess
import threading
import time

from .build import compiler, compiler_env
from .core import BUILD, TOP, Failure, doc_parser, git, run
from .deps import need_deps
from .report import Report
from .stacks import base_of, default_tree, kernel_tree

OUT = os.path.join(BUILD, "check-builds")
GUEST_CONFIG = os.path.join(TOP, "tools", "guest.config")
SELFTESTS = "tools/testing/selftests/timers"
# Paths no build here reads: a patch that changes only these compiles
# exactly as its parent does.  (tools/objtool and tools/include are built
# for x86_64, and Documentation/Kconfig is sourced by Kconfig: not these.)
NOT_BUILT = ("tools/testing/", "Documentation/timers/", "MAINTAINERS")

# What every configuration needs to reach the series' code at all.
COMMON = """CONFIG_64BIT=y
CONFIG_PRINTK=y
CONFIG_BUG=y
CONFIG_SYSFS=y
CONFIG_NET=y
CONFIG_POSIX_TIMERS=y
CONFIG_HIGH_RES_TIMERS=y
CONFIG_ACPI=y
CONFIG_DEBUG_FS=y
CONFIG_MODULES=y
CONFIG_MODULE_UNLOAD=y
"""

CONFIGS = {
    "y": """CONFIG_KUNIT=y
CONFIG_POSIX_AUX_CLOCKS=y
CONFIG_TIMEKEEPING_KUNIT_TEST=y
CONFIG_VMCLOCK_HOST=y
CONFIG_VMCLOCK_HOST_KUNIT_TEST=y
CONFIG_TIME_REFERENCE_DEV=y
CONFIG_PTP_1588_CLOCK=y
CONFIG_PTP_1588_CLOCK_VMCLOCK=y
CONFIG_PTP_1588_CLOCK_VMCLOCK_FEED=y
CONFIG_PTP_1588_CLOCK_VMCLOCK_KUNIT_TEST=y
""",
    "m": """CONFIG_KUNIT=y
CONFIG_POSIX_AUX_CLOCKS=y
CONFIG_TIMEKEEPING_KUNIT_TEST=y
CONFIG_VMCLOCK_HOST=m
CONFIG_VMCLOCK_HOST_KUNIT_TEST=m
CONFIG_TIME_REFERENCE_DEV=m
CONFIG_PTP_1588_CLOCK=m
CONFIG_PTP_1588_CLOCK_VMCLOCK=m
CONFIG_PTP_1588_CLOCK_VMCLOCK_FEED=y
CONFIG_PTP_1588_CLOCK_VMCLOCK_KUNIT_TEST=y
""",
    "n": """CONFIG_PTP_1588_CLOCK=y
CONFIG_PTP_1588_CLOCK_VMCLOCK=y
""",
}

# The 32-bit configuration: 'y' without ptp_vmclock, which depends on
# ARCH_SUPPORTS_INT128, and without ACPI, which 32-bit arm has not.
CONFIG_32 = "".join(line + "\n" for line in (COMMON + CONFIGS["y"]).split(
    "\n") if line and not re.match(r"CONFIG_(64BIT|ACPI|PTP_1588_CLOCK_VMCLOCK"
                                   r"\w*)=", line))

ARCHES = {
    "x86_64": ["ARCH=x86_64"],
    "arm64": ["ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"],
    "i386": ["ARCH=i386"],
    "arm": ["ARCH=arm", "CROSS_COMPILE=arm-linux-gnueabihf-"],
}

# On arm64 ACPI needs EFI, which allnoconfig leaves off.  allnoconfig on
# arm is an MMU-less ARMv7-M; the architected timer, which the series'
# drivers read, comes with ARMv7-A (the virt platform).
ARCH_CONFIG = {"x86_64": "", "arm64": "CONFIG_EFI=y\n", "i386": "",
               "arm": "CONFIG_MMU=y\nCONFIG_ARCH_MULTI_V7=y\n"
                      "CONFIG_ARCH_VIRT=y\n"}

# 64-bit division helpers of libgcc that no kernel provides: a relocation
# against one in an object is a link failure on that 32-bit arch.
LIBGCC_DIVISION = {"__udivdi3", "__divdi3", "__umoddi3", "__moddi3",
                   "__udivmoddi4", "__divmoddi4", "__aeabi_uldivmod",
                   "__aeabi_ldivmod"}

# Debian's sparse 0.6.4 parses neither __typeof_unqual__ (v7.3's headers
# use it) nor __builtin_strlen() in a constant expression (every
# MODULE_*() line); after such an error it stops warning about the file.
SPARSE = ('#!/bin/sh\nexec sparse -D__typeof_unqual__=__typeof__'
          ' "-D__builtin_strlen(s)=(sizeof(s) - 1)" "$@"\n')

WARNING = re.compile(r"^([\w./+-]+):\d+:(?:\d+:)? (warning|error): (.*)$")


def step_kind(name):
    """What a step's time counts as in the closing time line."""
    if re.match(r"(patch \d+|base) (i386|arm|i386 and arm):", name):
        return "32-bit builds (beside the others)"
    if name.startswith("patch ") and "selftests" in name:
        return "selftests"
    m = re.match(r"patch \d+ =(\w):", name)
    if m:
        return f"patches ={m.group(1)}"
    if "W=1" in name:
        return "warnings (W=1, sparse, arm64)"
    if "link" in name:
        return "tip link"
    return "other"


class Checker:
    def __init__(self, tree, keep_going):
        self.tree = tree
        self.keep_going = keep_going
        self.report = Report("check-builds")
        self.cc = {"x86_64": compiler(), "i386": compiler(),
                   "arm64": compiler("aarch64-linux-gnu-gcc"),
                   "arm": compiler("arm-linux-gnueabihf-gcc")}
        self.env = compiler_env()
        # Wall time per kind of step, for the budget of the test command
        self.mark = time.monotonic()
        self.spent = collections.Counter()

    def record(self, name, ok, detail="", secs=None):
        # Every build ends in a record: the time since the last one is
        # that build's, its checkout included.  A build that ran beside
        # the others brings its own SECS.
        if secs is None:
            now = time.monotonic()
            secs, self.mark = now - self.mark, now
        self.spent[step_kind(name)] += secs
        if not self.report.check(f"{name} ({secs:.0f}s)", ok, detail) \
                and not self.keep_going:
            raise Failure(f"{name} failed")

    def make(self, label, arch, args, extra=(), out=None, jobs=None):
        out = out or os.path.join(OUT, label)
        os.makedirs(out, exist_ok=True)
        cmd = (["make", "-s", "-C", self.tree, f"O={out}",
                f"CC={self.cc[arch]}", f"-j{jobs or os.cpu_count() or 2}"]
               + ARCHES[arch] + list(extra) + list(args))
        return subprocess.run(cmd, env=self.env, text=True,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)

    def configure(self, label, arch, config, wanted=None, out=None):
        """allnoconfig with the fragment (WANTED, default the
        configuration CONFIG's); the symbols this commit has must come
        out as asked.  Skipped when the build directory was configured
        with the same fragment at a commit with the same Kconfig files:
        at 2.4 s a time it was a third of a patch's builds."""
        out = out or os.path.join(OUT, label)
        os.makedirs(out, exist_ok=True)
        frag = os.path.join(out, "fragment.config")
        wanted = wanted or COMMON + ARCH_CONFIG[arch] + CONFIGS[config]
        stamp = os.path.join(out, ".configured-at")
        head = git(self.tree, "rev-parse", "HEAD")
        # Kconfig asks the compiler what it can do: another one, another
        # configuration
        cc = subprocess.run([self.cc[arch].split()[-1], "--version"],
                            text=True, capture_output=True).stdout
        cc = cc.splitlines()[0] if cc else "?"
        try:
            with open(frag) as f, open(stamp) as g:
                was = g.read().split("\n", 1)
                same = (f.read() == wanted and len(was) == 2
                        and was[1].strip() == cc and git(
                            self.tree, "diff", "--quiet", was[0], head,
                            "--", ":(glob)**/Kconfig*", "scripts/kconfig",
                            check=False) is not None)
        except OSError:
            same = False
        if same and os.path.exists(os.path.join(out, ".config")):
            return ""
        if os.path.exists(stamp):
            os.unlink(stamp)
        with open(frag, "w") as f:
            f.write(wanted)
        p = self.make(label, arch, ["allnoconfig"],
                      [f"KCONFIG_ALLCONFIG={frag}"], out=out)
        if p.returncode != 0:
            return f"make allnoconfig failed ({p.returncode}):\n{p.stdout}"
        with open(os.path.join(out, ".config")) as f:
            have = f.read()
        lost = []
        for line in wanted.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            sym = line.split("=", 1)[0][len("CONFIG_"):]
            if self.has_symbol(sym) and not re.search(
                    rf"^{re.escape(line)}$", have, re.M):
                lost.append(line)
        if lost:
            return f"config lost {' '.join(lost)}"
        with open(stamp, "w") as f:
            f.write(f"{head}\n{cc}\n")
        return ""

    def has_symbol(self, sym):
        return subprocess.run(
            ["git", "-C", self.tree, "grep", "-q", "-E",
             rf"^(menu)?config {sym}$", "--", "*Kconfig*"]).returncode == 0

    def touched(self, base):
        """The series' C files, headers and the kernel dirs to build."""
        files = git(self.tree, "diff", "--name-only", f"{base}..series")
        files = files.split()
        dirs = sorted({os.path.dirname(f) + "/" for f in files
                       if f.endswith(".c") and not f.startswith("tools/")})
        return files, dirs

    def build_dirs(self, name, label, arch, config, dirs, extra=()):
        """The build's output, or None when it failed."""
        err = self.configure(label, arch, config)
        if err:
            self.record(name, False, err)
            return None
        p = self.make(label, arch, dirs, extra)
        self.record(name, p.returncode == 0, p.stdout)
        return p.stdout if p.returncode == 0 else None

    def build_32bit(self, prefix, what, dirs):
        """The series' directories for i386 and arm, one job each, and
        their objects read for libgcc's division helpers: a list of
        (name, ok, detail, seconds) for the caller to record, since
        this runs beside its builds.  Each step is named
        'PREFIX ARCH: WHAT'."""
        results = []
        for arch in ("i386", "arm"):
            start = time.monotonic()
            step = f"{prefix} {arch}: {what}"
            err = self.configure(arch, arch, None,
                                 CONFIG_32 + ARCH_CONFIG[arch])
            p = None if err else self.make(arch, arch, dirs, jobs=1)
            if err or p.returncode != 0:
                results.append((step, False, err or p.stdout,
                                time.monotonic() - start))
                continue
            calls = self.libgcc_calls(os.path.join(OUT, arch), dirs)
            results.append((step + ", no libgcc division", not calls,
                            "\n".join(calls), time.monotonic() - start))
        return results

    @staticmethod
    def built_objects(out, dirs):
        """The objects this build linked into DIRS' built-in.a (a thin
        archive of the objects below it), not every .o under them: one
        left by another commit or run must not count."""
        objs = set()
        for d in dirs:
            archive = os.path.join(out, d, "built-in.a")
            if not os.path.exists(archive):
                continue
            p = subprocess.run(["ar", "t", archive], text=True,
                               capture_output=True)
            # Thin archives name their members relative to the build
            # directory's top, or to the archive's own directory
            for m in p.stdout.split():
                for path in (os.path.join(out, m), os.path.join(out, d, m)):
                    if os.path.exists(path):
                        objs.add(path)
                        break
        return sorted(objs)

    @classmethod
    def libgcc_calls(cls, out, dirs):
        """'object: helper' for each relocation against a libgcc division
        helper in the objects built into OUT's DIRS, or 'object: ...'
        naming one readelf could not read."""
        objs = cls.built_objects(out, dirs)
        found = []
        for i in range(0, len(objs), 200):
            chunk = objs[i:i + 200]
            p = subprocess.run(["readelf", "-rW"] + chunk,
                               text=True, capture_output=True)
            if p.returncode != 0:
                found.append(f"readelf failed on an object of"
                             f" {os.path.relpath(chunk[0], out)}..."
                             f" ({p.returncode}): {p.stderr.strip()}")
            # readelf names each file only when it reads more than one
            obj = os.path.relpath(chunk[0], out)
            for line in p.stdout.splitlines():
                m = re.match(r"File: (\S+)", line)
                if m:
                    obj = os.path.relpath(m.group(1), out)
                    continue
                words = line.split()
                if len(words) >= 5 and words[4] in LIBGCC_DIVISION:
                    found.append(f"{obj}: {words[4]}")
        return sorted(set(found))

    def link(self, name):
        """vmlinux and the modules with the series' options off, so that a
        missing export or stub, or a header user elsewhere in the kernel,
        shows up.  The configuration is the guest's (tools/guest.config)
        without its '# optional' lines, the series' own symbols: exactly
        the configuration the base's guest kernel is built in.  Built in a
        subdirectory of the worktree, as tools/guest-run builds in its
        tree, the sources are '../' in both builds, and ccache supplies
        every object the series changes nothing for from the base's guest
        kernel when the test command built that first: 32 s instead of
        300 s with an empty cache, measured alone."""
        with open(GUEST_CONFIG) as f:
            wanted = "".join(line for line in f
                             if not re.search(r"#\s*optional\s*$", line))
        out = os.path.join(self.tree, ".tip-link")
        err = self.configure("tip-link", "x86_64", None, wanted, out)
        p = None if err else self.make("tip-link", "x86_64",
                                       ["vmlinux", "modules"], out=out)
        self.record(name, not err and p.returncode == 0,
                    err or p.stdout)

    def selftests(self, name, label):
        """The timers selftests against this commit's uapi headers."""
        p = self.make(label, "x86_64", ["headers"])
        if p.returncode == 0:
            out = os.path.join(OUT, label, "selftests")
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            inc = os.path.join(OUT, label, "usr", "include")
            p = subprocess.run(
                ["make", "-s", "-C", os.path.join(self.tree, SELFTESTS),
                 f"OUTPUT={out}", f"KHDR_INCLUDES=-isystem {inc}", "all"],
                text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.record(name, p.returncode == 0, p.stdout)

    def warnings(self, dirs, files, when):
        """Warnings in the series' files, per build, without line numbers."""
        os.makedirs(OUT, exist_ok=True)
        wrapper = os.path.join(OUT, "sparse")
        with open(wrapper, "w") as f:
            f.write(SPARSE)
        os.chmod(wrapper, 0o755)
        found = {}
        for label, arch, extra in (
                ("y", "x86_64", ["W=1", "C=2", f"CHECK={wrapper}"]),
                ("arm64", "arm64", ["W=1"])):
            text = self.build_dirs(f"{when}: {arch} W=1"
                                   + (" and sparse" if "C=2" in extra
                                      else "") + " builds",
                                   label, arch, "y", dirs, extra)
            if text is None:
                found[arch] = None
                continue
            hits = collections.Counter()
            for line in text.splitlines():
                m = WARNING.match(line.strip())
                # Paths come relative to the build directory or absolute.
                mine = m and [f for f in files if m.group(1) == f
                              or m.group(1).endswith("/" + f)]
                if mine:
                    key = (mine[0], m.group(2), m.group(3))
                    # A header's warning repeats for every file that
                    # includes it: count it once.
                    if not (mine[0].endswith(".h") and key in hits):
                        hits[key] += 1
            found[arch] = hits
        return found

    def checkout(self, commit):
        run(["git", "-C", self.tree, "checkout", "-q", "--detach", commit],
            capture=True)


class Beside:
    """Checker.build_32bit() in a thread, beside the builds of the same
    commit, until record() waits for it and records what it found."""

    def __init__(self, checker, prefix, what, dirs):
        self.checker = checker
        self.name = f"{prefix} i386 and arm: {what}"
        self.results = []
        self.thread = threading.Thread(target=self.run,
                                       args=(prefix, what, dirs))
        self.thread.start()

    def run(self, prefix, what, dirs):
        try:
            self.results = self.checker.build_32bit(prefix, what, dirs)
        except Exception as e:  # a thread's exception would be lost
            self.results = [(self.name, False,
                             f"{type(e).__name__}: {e}", 0)]

    def record(self):
        """Wait for the thread, then record its steps.  The wait is time
        of its own: the next step's time starts after it."""
        start = time.monotonic()
        self.thread.join()
        self.checker.spent["waiting for the 32-bit builds"] += \
            time.monotonic() - start
        self.checker.mark = time.monotonic()
        if not self.results:
            self.results = [(self.name, False, "the 32-bit builds reported"
                             " nothing", 0)]
        failed = None
        for name, ok, detail, secs in self.results:
            try:
                self.checker.record(name, ok, detail, secs)
            except Failure as e:  # without --keep-going: record all first
                failed = failed or e
        if failed:
            raise failed


def lock_out():
    """Hold build/check-builds for this run: a second check-builds (a
    developer's beside the test command's) waits instead of removing
    the worktree the first builds in.  Released when the process ends."""
    os.makedirs(OUT, exist_ok=True)
    f = open(os.path.join(OUT, ".lock"), "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"check-builds: {OUT} is in use by another check-builds;"
              " waiting", flush=True)
        fcntl.flock(f, fcntl.LOCK_EX)
    return f


def worktree(tree):
    """The worktree of TREE's repository the commits are built in: kept
    when it is one and can be reset, made again when it is missing,
    another repository's (TREE was made anew since) or left broken by an
    interrupted run (a stale index.lock, an unfinished add)."""
    wt = os.path.join(OUT, "tree")
    common = os.path.realpath(os.path.join(
        tree, git(tree, "rev-parse", "--git-common-dir")))
    if os.path.isdir(wt):
        have = git(wt, "rev-parse", "--git-common-dir", check=False)
        if have and os.path.realpath(os.path.join(wt, have)) == common:
            # lock_out() makes this run the only user: a lock file left
            # here was left by a run that is gone.
            lock = git(wt, "rev-parse", "--git-path", "index.lock",
                       check=False)
            if lock and os.path.exists(os.path.join(wt, lock)):
                os.unlink(os.path.join(wt, lock))
            p = run(["git", "-C", wt, "reset", "-q", "--hard"],
                    capture=True, check=False)
            if p.returncode == 0:
                return wt
            run(["git", "-C", tree, "worktree", "remove", "--force",
                 "--force", wt], capture=True, check=False)
        shutil.rmtree(wt, ignore_errors=True)
    git(tree, "worktree", "prune")
    run(["git", "-C", tree, "worktree", "add", "-q", "--detach", wt,
         "series"], capture=True)
    return wt


def main():
    ap = doc_parser(__doc__)
    ap.add_argument("--tree")
    ap.add_argument("--keep-going", action="store_true",
                    help="go on after a failure")
    a = ap.parse_args()
    need_deps("check-builds")
    tree = kernel_tree(a.tree or default_tree(TOP), need_git=True)
    if git(tree, "rev-parse", "--verify", "-q", "series",
           check=False) is None:
        raise Failure(f"{tree}: no branch 'series'")
    # The base as fetch-base names it: with LINUX_TREE, a clone with
    # history, it is not the root commit.
    _, _, base = base_of(TOP)
    patches = git(tree, "rev-list", "--reverse", f"{base}..series").split()
    lock = lock_out()
    c = Checker(worktree(tree), a.keep_going)
    files, dirs = c.touched(base)
    print(f"check-builds: {len(patches)} patches; compiling"
          f" {' '.join(dirs)}", flush=True)
    c.checkout(base)
    beside = Beside(c, "base", "the series' directories build", dirs)
    try:
        before = c.warnings(dirs, files, "base")
    finally:
        beside.record()
    for n, commit in enumerate(patches, 1):
        c.checkout(commit)
        subject = git(tree, "log", "-1", "--format=%s", commit)
        changed = git(tree, "diff", "--name-only", f"{commit}~",
                      commit).split()
        if all(f.startswith(NOT_BUILT) for f in changed):
            # The kernel sources are those of the commit before, which
            # was built: the three builds would be the same again.
            print(f"same patch {n:02d}: {subject[:50]}: no kernel"
                  " source changed, builds as the one before",
                  flush=True)
        else:
            beside = Beside(c, f"patch {n:02d}", subject[:50], dirs)
            try:
                for config in CONFIGS:
                    c.build_dirs(f"patch {n:02d} ={config}:"
                                 f" {subject[:50]}", config, "x86_64",
                                 config, dirs)
            finally:
                beside.record()
        if any(f.startswith(SELFTESTS) or f.startswith("include/uapi/")
               for f in changed):
            c.selftests(f"patch {n:02d}: timers selftests build", "y")
    c.link("tip, the series' options off: vmlinux and modules link")
    after = c.warnings(dirs, files, "tip")
    for arch in after:
        if before[arch] is None or after[arch] is None:
            c.record(f"{arch}: warnings compared", False,
                     "a build above failed, so there is nothing to compare")
            continue
        new = after[arch] - before[arch]
        detail = "\n".join(f"{f}: {kind}: {msg}" + (f" (x{k})" if k > 1
                                                     else "")
                           for (f, kind, msg), k in sorted(new.items()))
        c.record(f"{arch}: no new warnings in the series' files"
                 f" ({sum(after[arch].values())} at the tip,"
                 f" {sum(before[arch].values())} at the base)",
                 not new, detail)
    lock.close()
    print("check-builds: time: " + ", ".join(
        f"{kind} {secs:.0f} s" for kind, secs in sorted(c.spent.items())),
        flush=True)
    c.report.extra["seconds"] = {kind: round(secs) for kind, secs
                                 in sorted(c.spent.items())}
    return c.report.close()
