"""Boot a kernel tree in a QEMU guest and run the timers selftests in it.

usage: tools/guest-run --tree DIR [--label L] [--results R] [--only NAME]...
                      [--smp N] [--build-only | --boot-only]

Builds an x86_64 kernel from the tree DIR with the Kconfig fragment
tools/guest.config (over allnoconfig), builds the tree's
tools/testing/selftests/timers statically, packs them with Debian's
busybox-static into an initramfs, boots it under QEMU with TCG only and
runs the tests listed in tools/guest-tests.conf (or those named by
--only), each under its own timeout.

When the tree's ptp_vmclock can feed the timekeeper, the guest also gets
the test-only page provider of tools/vmclock-provider (a module built
against the guest kernel) and its run-feed-test script, which the
vmclock_feed test runs: the guest's clock then follows a page that this
provider, not a hypervisor, publishes.

Prints TAP and ends with 'LABEL: N passed, N failed, N skipped'.  A test
passes on exit 0 and is skipped on the kselftest skip status (4) or when
the tree has no such test; anything else fails, and so does every test
still unrun when the guest panics, hangs or stops early.  The whole
console log is kept in build/guest/LABEL/console.log and the results in
build/results/guest-LABEL.json, for tools/guest-compare (console-R.log and
guest-R.json with --results R).

--label L   name of the build directory and the results (default: the
            tree directory's parent's name)
--results R name of this run's results, console log and initramfs
            (default: the label), so that the label's kernel can boot again,
            say with --smp 2 and --only, without losing the first results
--only N    run only test N (repeatable; it must be in the list)
--smp N     virtual CPUs (default 2)
--build-only  build the kernel, the selftests and the initramfs, and stop
            (so that two guests can then boot side by side without
            building at the same time)
--boot-only   boot what --build-only built, without building anything
            but the initramfs: the tree may change meanwhile (a build of
            another commit beside the guest) without changing the guest
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

from .build import compiler, compiler_env
from .core import BUILD, RESULTS, TOP, Failure, run
from .deps import need_deps
from .guest import (APPLETS, BOOT_MARGIN, BUILT_FROM, BUSYBOX, FRAGMENT,
                        Cpio, boot, build_kernel, built_before, built_from,
                        built_modules, built_record, kernel_dir,
                        qemu_command, symbol_exists)
from .provenance import provenance_path, record_provenance
from .report import Report
from .stacks import kernel_tree

TEST_LIST = os.path.join(TOP, "tools", "guest-tests.conf")
SELFTESTS = os.path.join("tools", "testing", "selftests", "timers")
PROVIDER = os.path.join(TOP, "tools", "vmclock-provider")
# rtcpie times the RTC's periodic interrupts against CLOCK_MONOTONIC and
# fails when a rate is 10 % off.  Under TCG, with the base's and the
# series' guests side by side on two cores, about one run in six misses
# that by a hair (0.0173 s for 0.0156 s at 64 Hz): a miss gets one more
# run, on both kernels alike, and says so.
RUN_RTCPIE = b"""#!/bin/sh
./rtcpie && exit 0
echo "rtcpie failed; running it once more"
exec ./rtcpie
"""
KSFT_SKIP = 4


def read_tests():
    """[(name, timeout, argv, parallel)] from tools/guest-tests.conf."""
    tests = []
    with open(TEST_LIST) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            parallel = line[0] == "&"
            if parallel:
                line = line[1:]
            if len(line) < 3 or not line[1].isdigit() or \
                    not re.fullmatch(r"[A-Za-z0-9_.-]+", line[0]):
                raise Failure(f"{TEST_LIST}:{n}: want [&] NAME TIMEOUT"
                              " COMMAND")
            tests.append((line[0], int(line[1]), line[2:], parallel))
    return tests


def time_limit(tests):
    """Seconds the tests may take: groups run alongside count once."""
    total, group = 0, 0
    for _, secs, _, parallel in tests:
        if parallel:
            group = max(group, secs)
        else:
            total += group + secs
            group = 0
    return total + group


def build_provider(tree, kernel, out):
    """The test-only vmclock page provider, built against the guest kernel
    in KERNEL, when the tree's ptp_vmclock has a feed to test; its .ko, or
    None."""
    if not symbol_exists(tree, "CONFIG_PTP_1588_CLOCK_VMCLOCK_FEED"):
        return None
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(PROVIDER, out)
    run(["make", "-s", "-C", tree, f"O={kernel}", "ARCH=x86_64",
         f"CC={compiler()}",
         f"M={out}", "modules"], env=compiler_env())
    return os.path.join(out, "vmclock_test_provider.ko")


def build_selftests(tree, out, headers):
    """Static timers selftests in OUT, against the kernel's uapi HEADERS;
    True if all built."""
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    env = dict(os.environ)
    # Static, so the initramfs needs no libc; valid-adjtimex defines its
    # own clock_adjtime(), which clashes with the static libc's.
    env["CFLAGS"] = "-static -Wl,--allow-multiple-definition"
    p = subprocess.run(["make", "-s", "-k", "-C",
                        os.path.join(tree, SELFTESTS), f"OUTPUT={out}",
                        f"KHDR_INCLUDES=-isystem {headers}", "all"],
                       env=env, text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    with open(os.path.join(out, "build.log"), "w") as f:
        f.write(p.stdout)
        # For --boot-only, which does not build them again.
        f.write(f"\nmake exited with {p.returncode}\n")
    return p.returncode == 0


def init_script(tests):
    """The guest's /init: run each test, framed by markers on the console.

    A test runs under its own timeout.  Its output goes to the console as
    it comes, or, for a test that runs alongside others ('&'), to a file
    printed once the group is over.  Times come from /proc/uptime, which
    the destructive tests' clock settings do not move.
    """
    lines = [
        "#!/bin/sh",
        "mount -t proc proc /proc",
        "mount -t sysfs sysfs /sys",
        "mount -t devtmpfs devtmpfs /dev",
        "mount -t tmpfs tmpfs /tmp",
        "mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null",
        "cs=/sys/devices/system/clocksource/clocksource0",
        'echo "@@@ guest $(uname -r) clocksource $(cat $cs/current_clocksource)'
        ' of $(cat $cs/available_clocksource)"',
        "for m in /modules/*.ko; do",
        '\t[ -e "$m" ] && { insmod "$m" || echo "@@@ insmod $m failed"; }',
        "done",
        "cd /selftests",
        "up() { read -r u _ </proc/uptime; echo \"$u\"; }",
        "one() {",
        "	name=$1; secs=$2; shift 2",
        "	t0=$(up)",
        '	if [ -x "$1" ]; then',
        '		timeout -s KILL "$secs" "$@" </dev/null 2>&1',
        "		rc=$?",
        "	else",
        "		rc=absent",
        "	fi",
        '	echo "$rc $t0 $(up)" >/tmp/$name.rc',
        "}",
        "# What a test left behind (children of a test killed on its",
        "# timeout) must not run into the next one: kill all but init.",
        "reap() {",
        "\tfor p in /proc/[0-9]*; do",
        '\t\t[ "${p#/proc/}" -ne 1 ] && kill -9 "${p#/proc/}" 2>/dev/null',
        "\tdone",
        "}",
        "run() {",
        '\techo "@@@ begin $1"',
        '\tone "$@"',
        "\treap",
        '\techo "@@@ end $1 $(cat /tmp/$1.rc)"',
        "}",
        "bg() {",
        '	one "$@" >/tmp/$1.out &',
        "}",
        "show() {",
        '	echo "@@@ begin $1"',
        "	cat /tmp/$1.out",
        '	echo "@@@ end $1 $(cat /tmp/$1.rc)"',
        "}",
    ]
    group = []
    for name, secs, argv, parallel in tests + [(None, 0, [], False)]:
        if not parallel and group:
            lines += ["wait", "reap"]
            lines += [f"show {g}" for g in group]
            group = []
        if name is None:
            break
        if parallel:
            lines.append(f"bg {name} {secs} {' '.join(argv)}")
            group.append(name)
        else:
            lines.append(f"run {name} {secs} {' '.join(argv)}")
    # The clocksource changes of the run, for the console log: every x86
    # guest starts on tsc-early, and a test may have switched it.
    lines += ['echo "@@@ clocksource $(cat $cs/current_clocksource)"',
              "dmesg | grep -i clocksource", 'echo "@@@ done"', "reboot -f",
              ""]
    return "\n".join(lines).encode()


def build_initramfs(selftests, tests, path, modules, provider):
    cpio = Cpio()
    for d in ["bin", "dev", "proc", "sys", "tmp", "selftests", "modules",
              "extra"]:
        cpio.dir(d)
    for m in modules:
        with open(m, "rb") as f:
            cpio.file(f"modules/{os.path.basename(m)}", f.read(), 0o644)
    if provider:
        # Loaded by run-feed-test, not at boot: its line starts then.
        with open(provider, "rb") as f:
            cpio.file("extra/vmclock_test_provider.ko", f.read(), 0o644)
        with open(os.path.join(PROVIDER, "run-feed-test"), "rb") as f:
            cpio.file("selftests/run-feed-test", f.read())
    cpio.chardev("dev/console", 5, 1)
    with open(BUSYBOX, "rb") as f:
        cpio.file("bin/busybox", f.read())
    for a in APPLETS:
        cpio.symlink(f"bin/{a}", "busybox")
    for name in sorted(os.listdir(selftests)):
        p = os.path.join(selftests, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            with open(p, "rb") as f:
                cpio.file(f"selftests/{name}", f.read())
    cpio.file("selftests/run-rtcpie", RUN_RTCPIE)
    cpio.file("init", init_script(tests))
    with open(path, "wb") as f:
        f.write(cpio.finish())


def parse(lines, tests):
    """{name: {status, detail, seconds, output}} from the console lines."""
    results = {}
    current, begun, output = None, 0.0, []
    guest, done = "", False
    for when, text in lines:
        m = re.search(r"@@@ (begin|end|guest|done)\s*(.*)$", text)
        if not m:
            if current:
                output.append(text)
            continue
        what, rest = m.groups()
        if what == "guest":
            guest = rest
        elif what == "done":
            done = True
        elif what == "begin":
            current, begun, output = rest.strip(), when, []
        elif what == "end" and current:
            fields = rest.split()
            name, code = (fields + ["?"])[:2]
            try:
                took = float(fields[3]) - float(fields[2])
            except (IndexError, ValueError):
                took = when - begun
            if code == "absent":
                status, detail = "skip", "not in this tree"
            elif code == "0":
                status, detail = "pass", ""
            elif code == str(KSFT_SKIP):
                status, detail = "skip", skip_reason(output)
            elif code == "137":
                status, detail = "fail", "timed out (killed)"
            else:
                status, detail = "fail", f"exit status {code}"
            results[name] = {"status": status, "detail": detail,
                             "seconds": round(took, 1),
                             "output": output[-200:]}
            current = None
    for name, *_ in tests:
        if name not in results:
            why = ("the guest stopped in it" if name == current
                   else "not reached")
            results[name] = {"status": "fail", "detail": why,
                             "seconds": 0, "output": output[-200:]
                             if name == current else []}
    return results, guest, done


def skip_reason(output):
    for line in reversed(output):
        m = re.search(r"(?:SKIP|skip)\W*(.*)", line)
        if m:
            return m.group(1).strip()[:80] or "skipped"
    return "skipped"


def parse_args():
    ap = argparse.ArgumentParser(
        prog="guest-run", add_help=False,
        usage="tools/guest-run --tree DIR [--label L] [--results R]"
              " [--only NAME]... [--smp N] [--build-only | --boot-only]")
    ap.add_argument("-h", "--help", action="store_true")
    ap.add_argument("--tree")
    ap.add_argument("--label")
    ap.add_argument("--results")
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--boot-only", action="store_true")
    a, extra = ap.parse_known_args()
    if a.help:
        print(__doc__.strip())
        sys.exit(0)
    if extra:
        raise Failure(f"unknown arguments: {' '.join(extra)}; see --help")
    if not a.tree:
        raise Failure("--tree DIR is required; see --help")
    if not os.path.isdir(os.path.join(kernel_tree(a.tree), SELFTESTS)):
        raise Failure(f"{a.tree}: not a kernel tree with {SELFTESTS}")
    if a.build_only and a.boot_only:
        raise Failure("--build-only and --boot-only: one or the other")
    if not 1 <= a.smp <= 4:
        raise Failure(f"--smp {a.smp}: want 1 to 4")
    a.tree = os.path.abspath(a.tree)
    if not a.label:
        a.label = os.path.basename(os.path.dirname(a.tree))
    if not re.fullmatch(r"[A-Za-z0-9._-]+", a.label):
        raise Failure(f"--label {a.label!r}: letters, digits, . _ - only")
    if a.results is None:
        a.results = a.label
    if not re.fullmatch(r"[A-Za-z0-9._-]+", a.results):
        raise Failure(f"--results {a.results!r}: letters, digits, . _ -"
                      " only")
    return a


def main():
    a = parse_args()
    tests = read_tests()
    known = {t[0] for t in tests}
    unknown = [n for n in a.only if n not in known]
    if unknown:
        raise Failure(f"not in {os.path.relpath(TEST_LIST, TOP)}: "
                      + " ".join(unknown))
    if a.only:
        tests = [t for t in tests if t[0] in a.only]
    need_deps("guest-run")
    top = os.path.join(BUILD, "guest", a.label)
    results_path = os.path.join(RESULTS, f"guest-{a.results}.json")
    # The first run of a label keeps the plain names
    suffix = "" if a.results == a.label else f"-{a.results}"
    if not a.build_only:
        for stale in (results_path, provenance_path(f"guest-{a.results}")):
            if os.path.exists(stale):
                os.unlink(stale)
    selftests = os.path.join(top, "selftests")
    if a.boot_only:
        kernel, built, provider = built_before(a.tree, top)
    else:
        # Whatever was built here before no longer counts.
        if os.path.exists(os.path.join(top, BUILT_FROM)):
            os.unlink(os.path.join(top, BUILT_FROM))
        kernel = build_kernel(a.tree, kernel_dir(a.tree, top, a.label))
        built = build_selftests(a.tree, selftests,
                                os.path.join(top, "kernel", "usr",
                                             "include"))
        provider = build_provider(a.tree, os.path.join(top, "kernel"),
                                  os.path.join(top, "provider"))
    initramfs = os.path.join(top, f"initramfs{suffix}.cpio")
    build_initramfs(selftests, tests, initramfs,
                    built_modules(os.path.join(top, "kernel")), provider)
    if not a.boot_only:
        with open(os.path.join(top, BUILT_FROM), "w") as f:
            json.dump(built_from(a.tree), f)
    if a.build_only:
        print(f"guest-run: built {os.path.relpath(top, TOP)}")
        return 0

    limit = time_limit(tests) + BOOT_MARGIN
    log_path = os.path.join(top, f"console{suffix}.log")
    lines, seconds, why = boot(qemu_command(kernel, initramfs, a.smp),
                               log_path, limit)
    results, guest, done = parse(lines, tests)
    if not done and why is None:
        why = "the guest stopped before running every test"
    for name, *_ in tests:
        r = results[name]
        # A test the tree has a source for but did not build fails.
        src = os.path.join(a.tree, SELFTESTS, name + ".c")
        if r["detail"] == "not in this tree" and os.path.exists(src):
            r.update(status="fail", detail="did not build (see "
                     f"{os.path.relpath(selftests, TOP)}/build.log)")

    report = Report(a.results, f"{a.results}: "
                    f"{guest or 'guest did not come up'}")
    for name, *_ in tests:
        r = results[name]
        if r["status"] == "pass":
            report.add(name, "pass", f"{r['seconds']} s")
        elif r["status"] == "skip":
            report.add(name, "skip", r["detail"])
        else:
            report.add(name, "fail",
                       "\n".join([r["detail"]] + r["output"][-15:]))
    if why:
        report.add("the guest ran every test to its end", "fail",
                   f"{why}; console log: {os.path.relpath(log_path, TOP)}")
    if not built:
        print("# some selftests did not build: "
              f"{os.path.relpath(selftests, TOP)}/build.log")
    os.makedirs(RESULTS, exist_ok=True)
    with open(results_path, "w") as f:
        json.dump({"label": a.results, "smp": a.smp, "guest": guest,
                   "problem": why,
                   "seconds": round(seconds, 1),
                   "tests": [dict(results[n], name=n) for n, *_ in tests]},
                  f, indent=1)
    # What the kernel was built from: the tree may have moved on since
    record_provenance(f"guest-{a.results}", a.tree,
                      os.path.join(top, "kernel", ".config"),
                      qemu_command(kernel, initramfs, a.smp)[:1],
                      inputs=[FRAGMENT, TEST_LIST, PROVIDER],
                      built=built_record(top))
    print(f"# guest ran {seconds:.0f} s")
    report.extra["seconds"] = round(seconds)
    return report.close()
