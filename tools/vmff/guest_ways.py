"""Follow a vmclock page four ways in one QEMU guest, and compare them.

usage: tools/guest-ways --tree DIR [--label L] [--seconds N] [--ways LIST]
                        [--no-daemons] [--write] [--from-log]

Boots the guest kernel that 'tools/guest-run --tree DIR --label L
--build-only' built (default label: test-main), with the test-only page
provider (tools/vmclock-provider), and follows its page, in turn and from
the same start, each of these ways (--ways, comma-separated):

  feed     the series' in-kernel feed: ptp_vmclock hands the page's line
           to the timekeeper (echo Y >/sys/module/ptp_vmclock/parameters/feed)
  chronyd  Debian's chronyd with ptp_vmclock's PHC as a refclock,
           configured as tools/ways/chrony.conf says and why
  phc2sys  Debian's phc2sys steering CLOCK_REALTIME from that PHC
           (-O -37: the PHC keeps TAI)
  door     the series' RFC userspace door: tk_reference_phc (from the
           tree's tools/testing/selftests/timers) fits a line of the
           counter to that PHC once a second and hands it to
           /dev/tk_reference, which the timekeeper applies at every tick

Each way starts from NTP's state as a boot leaves it (vmclock_track
--reset: no pending offset, frequency 0, the nominal tick, unsynchronised)
and a line 5 ms ahead and 20 ppm fast; halfway through its N seconds (default 120) a
simulated live migration moves the line by 2 ms and its rate by -25 ppm,
with a new disruption marker.  tools/ways/vmclock_track samples clock
minus page every 100 ms, at a counter value read between two clock reads;
the time between those reads (the bracket) bounds what one sample can
tell under emulation, and is printed beside every figure.

The counter is read somewhere between the two clock reads, so the true
offset is within half a bracket of the midpoint's: a sample is "surely"
more than X off when |offset| less half its bracket is.  Prints, per
way: when the clock was, for good, no longer surely more than 10 us,
1 us and 100 ns off the page (before the migration), and 1 us after it;
the median and largest |offset| over the last 30 s before the migration
and before the end; the largest CLOCK_MONOTONIC rate error over any 1 s
after the migration; and how often the error bound adjtimex() reports
(maxerror) was surely smaller than the offset while the clock said it
was synchronised, and how often outside the 1.5 s after the migration
(nothing notifies the guest: the feed reads the page once a second, and
the daemons see the new line only through their filters); and how often
CLOCK_REALTIME was stepped (phc2sys steps its first offset, chronyd
steps only beyond 1 s, the feed beyond 128 ms and only when told of a
disruption).  A figure below half the median
bracket is marked '~': it is not resolved.  Then it checks the feed
against its design bounds (printed with each check) and ends with
'guest-ways: N passed, N failed'.  The other ways are measured, not
judged.

Then, in the same boot and unless --no-daemons, the daemons phase
(tools/ways/run-daemons): with the feed on, what a stock guest runs to set
its clock, each as its Debian package runs it and one after the other:
chronyd following the page as above when the feed is switched on under
it; chronyd with Debian's chrony.conf and options; chronyd -x (no control
of the clock) on the PHC, asked by chronyc tracking; phc2sys;
systemd-timesyncd (its package downloaded with apt-get and unpacked, as
it conflicts with chrony) with a clock file from tomorrow;
hwclock --systohc and --hctosys; date -s; adjtimex reading; and last,
with the feed moved off CLOCK_REALTIME onto CLOCK_AUX0, chronyd following
the page's PHC again while the tree's vmclock_feed -a 0 checks the
auxiliary clock against the page through the vDSO.  Checks, with
what each said quoted: each ends as expected and says what it must, in
order (chronyd selects the PHC, then exits with a fatal error naming
EBUSY once the feed is on; date -s and hwclock --hctosys fail with EBUSY;
chronyc shows the PHC selected and no leap; the other daemons run on,
using at most 5 % of a CPU over the second half of their run, where one
that spins uses all of it, and writing at most 5 log lines a second,
with the clock sampled throughout, but beside the auxiliary clock);
from three seconds after the feed took over until it moves to the
auxiliary clock, the clock is never surely more than 1 us off the
page, never stepped, always synchronised with a maxerror never short of
the offset; the feed's counters show nothing dropped, rejected or
disrupted; and every report is well formed.  Kernel messages are kept
off the console during the phase and shown after it.

Everything goes to build/results/guest-ways.{json,md,dat} and the console
log to build/guest/L/console-ways.log; --write also copies the table, a
plain-text version for the cover letter and a gnuplot plot of |offset|
against time (log scale) to Documentation/results/guest-ways.{md,txt,svg}
(the text as guest-ways-cover.txt, the figures as guest-ways.json for
tools/kunit-table's verdict), and the daemons phase's table to
guest-daemons.md (the text as guest-daemons-cover.txt), each with the
run's provenance (build/results/guest-ways-L.provenance.json) in
Documentation/results/provenance.json; a run that fails a check is not
written.  --from-log boots nothing: it reads the console log of the
label's last run again, with the --seconds, --ways and --no-daemons that
run had (build/guest/L/ways-settings.json).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

from .core import (BUILD, CACHE, DOC_RESULTS, RESULTS, TOP, Failure,
                   run)
from .deps import need_deps
from .guest import (APPLETS, BOOT_MARGIN, BUSYBOX, FRAGMENT, Cpio,
                        boot, built_before, built_modules, built_record,
                        qemu_command)
from .provenance import (provenance_path, publish, record_provenance,
                             sources_provenance)
from .report import Report
from .stacks import kernel_tree


WAYS_DIR = os.path.join(TOP, "tools", "ways")
WAYS = ("feed", "chronyd", "phc2sys", "door")
# Debian programs the guest runs, with the shared libraries they load.
DAEMONS = {"chronyd": "/usr/sbin/chronyd", "phc2sys": "/usr/sbin/phc2sys"}
# What the daemons phase runs beside the feed, from this machine's Debian
# packages, and where the guest has it: chronyd and phc2sys as above,
# chronyc, util-linux's hwclock and coreutils' date (busybox has its own
# hwclock and date, which are not what a stock guest runs).
# systemd-timesyncd conflicts with chrony, so it is not installed here:
# its package is downloaded and unpacked (timesyncd_root()).
PHASE_PROGRAMS = (("/usr/sbin/chronyd", "usr/sbin/chronyd"),
                  ("/usr/bin/chronyc", "usr/bin/chronyc"),
                  ("/usr/sbin/phc2sys", "usr/sbin/phc2sys"),
                  ("/sbin/hwclock", "usr/sbin/hwclock"),
                  ("/bin/date", "usr/bin/date"))
# Where the guest runs it (run-daemons), whichever of the two the
# package puts it in (bookworm's, trixie's)
TIMESYNCD = "lib/systemd/systemd-timesyncd"
TIMESYNCD_IN_DEB = ("lib/systemd/systemd-timesyncd",
                    "usr/lib/systemd/systemd-timesyncd")
TIMESYNCD_DEBS = ("systemd-timesyncd", "libsystemd-shared")
# Where systemd's programs find libsystemd-shared (their RUNPATH)
SHARED_RUNPATH = "usr/lib/x86_64-linux-gnu/systemd"
# How long the daemons phase runs, boot aside: what run-daemons sleeps
# (8 + 5 + 3 + 12 + 8 + 8 + 4 s), vmclock_feed -a 0 (about 10 s) and what
# its programs take under TCG.
DAEMONS_S = 110
# A daemon beside the feed must not spin: at most this share of a CPU.
DAEMON_CPU = 0.05
# Nor flood its log: lines a second, at most.
DAEMON_LINES_S = 5
INTERVAL_MS = 100
STEADY_S = 30

# The feed's design bounds, as checks: it slews at 2^-10 (977 ppm), so
# 5 ms take 5.1 s and the migration's 2 ms 2.05 s (below 128 ms it slews,
# not steps); once there it is on the line to the tick, so what a sample
# sees is the bracket's noise.
FEED_WITHIN_10US_S = 8.0
FEED_BACK_1US_S = 5.0
FEED_MONO_PPM = 1000.0
# The migration changes the page while the guest runs, and nothing tells
# the guest: ptp_vmclock reads the page once a second (the test provider
# sends no notification), chronyd reads the PHC four times a second.
# Until then every way follows the old line, and no bound can know.
DETECT_MS = 1500


def shared_libs(binary, lib_dir=None):
    """The shared libraries BINARY loads, and its loader: ldd's paths,
    looked for first in LIB_DIR."""
    env = dict(os.environ)
    if lib_dir:
        env["LD_LIBRARY_PATH"] = lib_dir
    p = subprocess.run(["ldd", binary], env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    missing = re.findall(r"(\S+) => not found", p.stdout)
    if p.returncode or missing:
        raise Failure(f"ldd {binary}: " + (
            f"{', '.join(missing)} not found on this machine" if missing
            else p.stdout.strip()))
    return [m.group(1) for m in re.finditer(r"(/\S+) \(0x", p.stdout)]


def init_script(seconds, ways, daemons):
    return "\n".join([
        "#!/bin/sh",
        "mount -t proc proc /proc",
        "mount -t sysfs sysfs /sys",
        "mount -t devtmpfs devtmpfs /dev",
        "mount -t tmpfs tmpfs /tmp",
        "mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null",
        "cs=/sys/devices/system/clocksource/clocksource0",
        'echo "@@@ guest $(uname -r) clocksource'
        ' $(cat $cs/current_clocksource)"',
        "for m in /modules/*.ko; do",
        '\t[ -e "$m" ] && { insmod "$m" || echo "@@@ insmod $m failed"; }',
        "done",
        f"/ways/run-ways {seconds} {seconds // 2} {' '.join(ways)}",
        "/ways/run-daemons" if daemons else ":",
        'echo "@@@ done"',
        "reboot -f", ""]).encode()


def build_tracker(tree, headers, out):
    """tools/ways/vmclock_track, static, with the tree's page reader."""
    os.makedirs(out, exist_ok=True)
    binary = os.path.join(out, "vmclock_track")
    run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror",
         "-I", os.path.join(tree, "tools", "testing", "selftests", "timers"),
         "-isystem", headers, "-o", binary,
         os.path.join(WAYS_DIR, "vmclock_track.c")])
    return binary


def build_feed_test(tree, headers, out):
    """The tree's selftest vmclock_feed, static, for the daemons phase's
    auxiliary clock beside chronyd."""
    timers = os.path.join(tree, "tools", "testing", "selftests", "timers")
    os.makedirs(out, exist_ok=True)
    binary = os.path.join(out, "vmclock_feed")
    run(["gcc", "-static", "-O2", "-Wall", "-isystem", headers,
         "-o", binary, os.path.join(timers, "vmclock_feed.c"), "-lm"])
    return binary


def build_door_client(tree, headers, out):
    """The tree's tk_reference_phc, static, for the door way."""
    src = os.path.join(tree, "tools", "testing", "selftests", "timers",
                       "tk_reference_phc.c")
    if not os.path.exists(src):
        raise Failure(f"{tree}: no {os.path.relpath(src, tree)}; the door"
                      " way needs the series' RFC patches")
    os.makedirs(out, exist_ok=True)
    binary = os.path.join(out, "tk_reference_phc")
    run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror",
         "-isystem", headers, "-o", binary, src, "-lm"])
    return binary


def timesyncd_binary(root):
    """The systemd-timesyncd binary in the unpacked tree ROOT, or None."""
    for rel in TIMESYNCD_IN_DEB:
        if os.path.isfile(os.path.join(root, rel)):
            return os.path.join(root, rel)
    return None


def timesyncd_root():
    """A directory holding Debian's systemd-timesyncd and the
    libsystemd-shared of its version, unpacked from their packages
    (apt-get download: the package conflicts with chrony, so it cannot
    be installed here).  Kept in the cache between runs; unpacked into a
    directory of its own and renamed into place, so that a failed or
    concurrent run leaves no half tree."""
    top = os.path.join(CACHE, "timesyncd")
    root = os.path.join(top, "root")
    if timesyncd_binary(root):
        return root
    os.makedirs(top, exist_ok=True)
    work = tempfile.mkdtemp(dir=top, prefix="unpack-")
    try:
        try:
            p = subprocess.run(["apt-get", "-q", "download",
                                *TIMESYNCD_DEBS], cwd=work, text=True,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=300)
            out, rc = p.stdout, p.returncode
        except subprocess.TimeoutExpired:
            out, rc = "no answer in 300 s", "timeout"
        got = sorted(f for f in os.listdir(work) if f.endswith(".deb"))
        if rc or len(got) != len(TIMESYNCD_DEBS):
            raise Failure("apt-get download " + " ".join(TIMESYNCD_DEBS) +
                          f" failed ({rc}):\n{out.strip()}"
                          "\n(as root, 'apt-get update' first)")
        tree = os.path.join(work, "root")
        for deb in got:
            run(["dpkg-deb", "-x", os.path.join(work, deb), tree])
        if not timesyncd_binary(tree):
            raise Failure(f"{', '.join(got)}: no systemd-timesyncd in"
                          f" {' or '.join(TIMESYNCD_IN_DEB)}")
        try:
            os.rename(tree, root)
        except OSError:
            # Another run put one there first
            if not timesyncd_binary(root):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return root


def add_program(cpio, made, host, name, lib_dir=None):
    """HOST's binary as NAME in the archive, with the shared libraries
    it loads, looked for first in LIB_DIR, at the paths ldd names."""
    for src, dst in [(host, name)] + [
            (f, f.lstrip("/")) for f in shared_libs(host, lib_dir)]:
        if lib_dir and src.startswith(lib_dir + "/"):
            # The unpacked package's library, where the binary's RUNPATH
            # looks for it
            dst = os.path.join(SHARED_RUNPATH, os.path.basename(src))
        parts = dst.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in made:
                cpio.dir(d)
                made.add(d)
        if dst not in made:
            with open(os.path.realpath(src), "rb") as fh:
                cpio.file(dst, fh.read(), 0o755)
            made.add(dst)


# Who the daemons run as once they drop root: Debian's system users
PASSWD = (b"root:x:0:0:root:/:/bin/sh\n"
          b"_chrony:x:100:100:Chrony daemon:/var/lib/chrony:/bin/false\n"
          b"systemd-timesync:x:101:101:systemd Time Synchronization:/:"
          b"/bin/false\n")
GROUP = b"root:x:0:\n_chrony:x:100:\nsystemd-timesync:x:101:\n"


def build_initramfs(path, modules, provider, tracker, seconds, ways,
                    daemons, door_client=None, feed_test=None):
    cpio = Cpio()
    made = {"bin", "dev", "proc", "sys", "tmp", "modules", "ways", "etc",
            "run", "var"}
    for d in sorted(made):
        cpio.dir(d)
    for m in modules:
        with open(m, "rb") as f:
            cpio.file(f"modules/{os.path.basename(m)}", f.read(), 0o644)
    files = [(provider, "ways/vmclock_test_provider.ko", 0o644),
             (tracker, "ways/vmclock_track", 0o755),
             *([(door_client, "ways/tk_reference_phc", 0o755)]
               if door_client else []),
             (os.path.join(WAYS_DIR, "run-ways"), "ways/run-ways", 0o755),
             (os.path.join(WAYS_DIR, "chrony.conf"), "ways/chrony.conf",
              0o644)]
    if daemons:
        files += [(os.path.join(WAYS_DIR, "run-daemons"),
                   "ways/run-daemons", 0o755),
                  (feed_test, "ways/vmclock_feed", 0o755),
                  (os.path.join(WAYS_DIR, "chrony-monitor.conf"),
                   "ways/chrony-monitor.conf", 0o644)]
        # Debian's chrony.conf as the package installs it
        cpio.dir("etc/chrony")
        files.append(("/etc/chrony/chrony.conf", "etc/chrony/chrony.conf",
                      0o644))
    for src, dst, mode in files:
        with open(src, "rb") as f:
            cpio.file(dst, f.read(), mode)
    cpio.file("etc/passwd", PASSWD, 0o644)
    cpio.file("etc/group", GROUP, 0o644)
    for way in ways:
        if way in DAEMONS:
            add_program(cpio, made, DAEMONS[way], DAEMONS[way].lstrip("/"))
    if daemons:
        for host, name in PHASE_PROGRAMS:
            add_program(cpio, made, host, name)
        # Without it the guest's timesyncd fails to start, and only its
        # checks fail; the rest of the phase still runs
        try:
            root = timesyncd_root()
            add_program(cpio, made, timesyncd_binary(root), TIMESYNCD,
                        lib_dir=os.path.join(root, SHARED_RUNPATH))
        except Failure as e:
            print(f"guest-ways: no systemd-timesyncd for the guest: {e}",
                  flush=True)
    cpio.chardev("dev/console", 5, 1)
    with open(BUSYBOX, "rb") as f:
        cpio.file("bin/busybox", f.read())
    for a in sorted(set(APPLETS) | {"adjtimex", "sed", "tail", "kill",
                                       "touch", "wc"}):
        cpio.symlink(f"bin/{a}", "busybox")
    cpio.file("init", init_script(seconds, ways, daemons))
    with open(path, "wb") as f:
        f.write(cpio.finish())


SAMPLE = re.compile(r"^@@ (\d+) (-?\d+) (-?\d+) (-?\d+) (-?\d+) (\d+) (\d+)"
                    r" ([01])$")


def new_way():
    """What parse() keeps of one way."""
    return {"samples": [], "migrate_ms": None, "log": [], "ended": False,
            "fail": [], "reset": None, "progs": {}, "feed": [],
            "noline": 0, "garbled": [], "dmesg": []}


# run-daemons' report of one program (a line split by anything else is
# garbled, and fails the phase)
PROG = re.compile(r"^@@ prog (\S+) rc=(-|\d+) alive=([01]) cpu=(-|\d+)"
                  r" cpusecs=(-|\d+) secs=(-|\d+) lines=(\d+)$")


def parse(lines):
    """{way: {samples, migrate_ms, log}} from the console, and the guest."""
    ways, cur, guest = {}, None, ""
    for _, text in lines:
        text = text.strip()
        # The firmware's escape codes may precede the first marker
        m = re.search(r"@@@ fail (\S+) (.*)$", text)
        if m:
            ways.setdefault(m.group(1), new_way())["fail"].append(m.group(2))
            continue
        m = re.search(r"@@@ prog (\S+)$", text)
        if m and cur is not None:
            # The daemons phase: samples from here on are this program's
            cur["progs"][m.group(1)] = {"first": len(cur["samples"]),
                                        "log": []}
            continue
        m = re.search(r"@@@ (way|end|guest) ?(.*)$", text)
        if m:
            if m.group(1) == "way":
                cur = ways.setdefault(m.group(2), new_way())
            elif m.group(1) == "end" and cur is not None:
                cur["ended"] = True
                cur = None
            else:
                guest = m.group(2)
            continue
        if cur is None:
            continue
        m = SAMPLE.match(text)
        if m:
            t, off, br, mono, mbr, maxerr, esterr, unsync = \
                map(int, m.groups())
            # A step between the two clock reads makes a bracket negative
            # or huge: such a sample says nothing.
            if br < 0 or mbr < 0:
                continue
            cur["samples"].append({"t": t, "off": off, "br": br,
                                   "mono": mono, "mbr": mbr,
                                   "maxerr_us": maxerr,
                                   "esterr_us": esterr,
                                   "unsync": bool(unsync)})
        elif text.startswith("@@ reset "):
            cur["reset"] = text[len("@@ reset "):]
        elif text.startswith("@@ migrate "):
            cur["migrate_ms"] = int(text.split()[2])
        elif text.startswith("@@log "):
            cur["log"].append(text[6:])
        elif text.startswith("@@ noline "):
            cur["noline"] += 1
        elif text.startswith("@@ prog "):
            m = PROG.match(text)
            if m and m.group(1) in cur["progs"]:
                cur["progs"][m.group(1)].update(zip(
                    ("rc", "alive", "cpu", "cpusecs", "secs", "lines"),
                    m.groups()[1:]))
            else:
                cur["garbled"].append(text)
        elif text.startswith("@@dmesg "):
            cur["dmesg"].append(text[8:])
        elif text.startswith("@@dlog "):
            name, _, line = text[7:].partition(" ")
            if name == "feed":
                cur["feed"].append(line)
            elif name in cur["progs"]:
                cur["progs"][name]["log"].append(line)
    return ways, guest


def surely(s):
    """How far the clock surely was from the page at sample S, ns: the
    counter was read somewhere between the two clock reads, so the true
    offset is within half a bracket of the midpoint's."""
    return max(0, abs(s["off"]) - s["br"] / 2)


def settled(samples, start_ms, end_ms, limit_ns):
    """Seconds from START_MS after which the clock was never surely more
    than LIMIT_NS off until END_MS; None if it was at the last sample."""
    span = [s for s in samples if start_ms <= s["t"] < end_ms]
    if not span:
        return None
    last_out = None
    for s in span:
        if surely(s) > limit_ns:
            last_out = s["t"]
    if last_out is None:
        return 0.0
    if last_out == span[-1]["t"]:
        return None
    return (last_out + INTERVAL_MS - start_ms) / 1000


# A sample whose clock reads were this many median brackets apart (the
# vCPU descheduled between them) says too little for a rate over 1 s.
RATE_BRACKETS = 4


def rate_noise_ns(samples):
    """The largest bracket mono_rate_ppm() uses."""
    return RATE_BRACKETS * statistics.median(s["mbr"] for s in samples)


def mono_rate_ppm(samples, start_ms, end_ms):
    """Largest |CLOCK_MONOTONIC rate error| over any 1 s in the span, in
    ppm, from samples with a bracket of at most rate_noise_ns(): each end
    of a span may be off by that much, so the figure is resolved to
    rate_noise_ns() / 1000 ppm.  The migration's own jump of the page is
    not in it: the span starts with the first sample of the new line."""
    noise = rate_noise_ns(samples)
    span = [s for s in samples if start_ms <= s["t"] < end_ms and
            s["mbr"] <= noise]
    worst = 0.0
    j = 0
    for i, s in enumerate(span):
        while j < len(span) and span[j]["t"] < s["t"] + 1000:
            j += 1
        if j >= len(span):
            break
        e = span[j]
        dt = e["t"] - s["t"]
        # ns per ms of CLOCK_MONOTONIC_RAW is ppm
        worst = max(worst, abs(e["mono"] - s["mono"]) / dt)
    return worst


def steps(samples):
    """How often CLOCK_REALTIME was stepped: CLOCK_REALTIME minus
    CLOCK_MONOTONIC (offset minus MONO_NS, the page's TAI - UTC aside)
    moves only when it is, by more than both samples' brackets."""
    n = 0
    for a, b in zip(samples, samples[1:]):
        jump = abs((b["off"] - b["mono"]) - (a["off"] - a["mono"]))
        if jump > a["br"] + a["mbr"] + b["br"] + b["mbr"] + 1000:
            n += 1
    return n


def figures(way):
    s = way["samples"]
    if not s:
        return None
    end = s[-1]["t"] + INTERVAL_MS
    mig = way["migrate_ms"] if way["migrate_ms"] is not None else end
    brackets = sorted(x["br"] for x in s)
    f = {"samples": len(s),
         "bracket_median_ns": statistics.median(brackets),
         "bracket_max_ns": brackets[-1]}
    for lim, key in ((10000, "within_10us_s"), (1000, "within_1us_s"),
                     (100, "within_100ns_s")):
        f[key] = settled(s, 0, mig, lim)
    f["back_1us_s"] = settled(s, mig, end, 1000)
    f["back_10us_s"] = settled(s, mig, end, 10000)
    for name, lo, hi in (("before", mig - STEADY_S * 1000, mig),
                         ("after", end - STEADY_S * 1000, end)):
        span = [x for x in s if lo <= x["t"] < hi]
        offs = [abs(x["off"]) for x in span]
        f[f"steady_{name}_median_ns"] = statistics.median(offs) if offs \
            else None
        f[f"steady_{name}_max_ns"] = max(offs) if offs else None
        f[f"steady_{name}_surely_ns"] = max(map(surely, span)) if span \
            else None
    f["rate_noise_ns"] = rate_noise_ns(s)
    f["steps"] = steps(s)
    f["mono_ppm_recovery"] = mono_rate_ppm(s, mig, end)
    f["mono_ppm_start"] = mono_rate_ppm(s, 0, mig)
    synced = [x for x in s if not x["unsync"]]
    broken = [x for x in synced if surely(x) > x["maxerr_us"] * 1000]
    f["synced_samples"] = len(synced)
    f["bound_broken"] = len(broken)
    f["bound_broken_known"] = sum(
        1 for x in broken if not mig <= x["t"] < mig + DETECT_MS)
    worst = max(broken, key=lambda x: surely(x) - x["maxerr_us"] * 1000,
                default=None)
    f["bound_worst"] = (None if worst is None else
                        {"t_s": worst["t"] / 1000, "off_ns": worst["off"],
                         "maxerr_us": worst["maxerr_us"]})
    return f


def fmt_s(v):
    return "never" if v is None else f"{v:.1f}"


def fmt_ns(v, noise):
    if v is None:
        return "-"
    mark = "~" if v < noise / 2 else ""
    return f"{mark}{v:.0f}"


def table(results):
    cols = ["way", "bracket median/max ns", "10 us s", "1 us s", "100 ns s",
            "steady before: median/max ns", "back in 1 us s",
            "steady after: median/max ns", "mono rate error after, ppm",
            "REALTIME steps",
            "maxerror surely short of the offset, in synced samples"]
    rows = ["| " + " | ".join(cols) + " |",
            "|" + "---|" * len(cols)]
    for way, f in results.items():
        if f is None:
            rows.append(f"| {way} | no samples |" + " |" * (len(cols) - 2))
            continue
        n = f["bracket_median_ns"]
        bw = f["bound_worst"]
        bound = (f"{f['bound_broken']} of {f['synced_samples']}"
                 f" ({f['bound_broken_known']} after the first"
                 f" {DETECT_MS / 1000:.1f} s of the migration)")
        if bw:
            bound += (f"; worst {bw['off_ns']} ns with maxerror"
                      f" {bw['maxerr_us']} us at {bw['t_s']:.1f} s")
        rows.append("| " + " | ".join([
            way, f"{n:.0f}/{f['bracket_max_ns']}",
            fmt_s(f["within_10us_s"]), fmt_s(f["within_1us_s"]),
            fmt_s(f["within_100ns_s"]) + ("~" if n / 2 > 100 else ""),
            f"{fmt_ns(f['steady_before_median_ns'], n)}/"
            f"{fmt_ns(f['steady_before_max_ns'], n)}",
            fmt_s(f["back_1us_s"]),
            f"{fmt_ns(f['steady_after_median_ns'], n)}/"
            f"{fmt_ns(f['steady_after_max_ns'], n)}",
            f"{f['mono_ppm_recovery']:.1f}", str(f["steps"]), bound]) + " |")
    return "\n".join(rows)


def cover_text(results, seconds):
    """The figures as plain text for the cover letter (%include)."""
    ways = [w for w, f in results.items() if f]
    rows = [
        ("clock-page bracket, median ns", "bracket_median_ns", "{:.0f}"),
        ("within 10 us after start, s", "within_10us_s", None),
        ("within 1 us after start, s", "within_1us_s", None),
        ("steady |offset| median, ns", "steady_before_median_ns",
         "{:.0f}"),
        ("back within 1 us after migration, s", "back_1us_s", None),
        ("CLOCK_MONOTONIC rate error then, ppm", "mono_ppm_recovery",
         "{:.0f}"),
        ("steps of CLOCK_REALTIME", "steps", "{}"),
        ("maxerror surely short, samples", "bound_broken_known", "{}"),
    ]
    out = [f"{'':38}" + "".join(f"{w:>10}" for w in ways)]
    for label, key, form in rows:
        cells = []
        for w in ways:
            v = results[w][key]
            if key.startswith("steady"):
                # '~': below half the bracket, not resolved
                cells.append(fmt_ns(v, results[w]["bracket_median_ns"]))
            else:
                cells.append(fmt_s(v) if form is None else
                             ("-" if v is None else form.format(v)))
        out.append(f"{label:38}" + "".join(f"{c:>10}" for c in cells))
    return "\n".join([
        f"One QEMU TCG guest, {seconds} s per way: the page 5 ms ahead and"
        " 20 ppm fast at",
        f"the start, a migration at {seconds // 2} s (2 ms, -25 ppm);"
        " 'surely' allows for half",
        "the bracket of clock reads around each sample; maxerror counted"
        " outside the",
        f"{DETECT_MS / 1000:.1f} s after the migration (the feed reads the"
        " page once a second);",
        "'~' marks a figure below half the bracket, not resolved"
        " (tools/guest-ways).", ""]
        + out) + "\n"


def checks(results):
    """The feed against its design bounds: [(name, ok)]."""
    f = results.get("feed")
    if f is None:
        return [("feed: samples came", False)]
    if f["steady_before_surely_ns"] is None:
        return [("feed: samples in both steady windows", False)]
    out = [
        (f"feed: within 10 us of the page within {FEED_WITHIN_10US_S} s"
         f" (was {fmt_s(f['within_10us_s'])})",
         f["within_10us_s"] is not None and
         f["within_10us_s"] <= FEED_WITHIN_10US_S),
        (f"feed: back within 1 us within {FEED_BACK_1US_S} s of the"
         f" migration (was {fmt_s(f['back_1us_s'])})",
         f["back_1us_s"] is not None and f["back_1us_s"] <= FEED_BACK_1US_S),
        (f"feed: over the last {STEADY_S} s before and after the migration,"
         f" never surely more than 1 us off (was"
         f" {f['steady_before_surely_ns']:.0f} and"
         f" {f['steady_after_surely_ns']:.0f} ns beyond half a bracket)",
         f["steady_before_surely_ns"] is not None and
         f["steady_after_surely_ns"] is not None and
         max(f["steady_before_surely_ns"], f["steady_after_surely_ns"]) <=
         1000),
        (f"feed: adjtimex()'s maxerror never surely short of the offset"
         f" while synchronised, but in the {DETECT_MS / 1000:.1f} s the"
         f" guest takes to read the migrated page (was short in"
         f" {f['bound_broken_known']} of {f['synced_samples']} samples;"
         f" {f['bound_broken']} with those)",
         f["synced_samples"] > 0 and f["bound_broken_known"] == 0),
        (f"feed: CLOCK_MONOTONIC's rate error after the migration within"
         f" {FEED_MONO_PPM:.0f} ppm, plus {f['rate_noise_ns']:.0f} ns of"
         f" sample noise over a second (was {f['mono_ppm_recovery']:.1f})",
         f["mono_ppm_recovery"] <=
         FEED_MONO_PPM + f["rate_noise_ns"] / 1000),
    ]
    return out


# What each program of the daemons phase must do beside the feed: what
# it is, how it ends (the exit status it must have, or None: it runs on
# until stopped) and the lines its output must have, in this order
# (regular expressions; the last one's line is quoted in the report).
DAEMON_EXPECT = (
    ("chronyd-handover", "chronyd following the page (the chronyd way),"
     " when the feed is switched on under it", 1,
     (r"Selected source PHC0", r"Fatal error.*Device or resource busy")),
    ("chronyd-debian", "Debian's chronyd as chrony.service starts it"
     " (its chrony.conf, -F 1), with the feed on", 1,
     (r"Fatal error.*Device or resource busy",)),
    ("chronyd-monitor", "chronyd -x (no control of the clock) with the"
     " page's PHC as refclock", None, (r"Selected source PHC0",)),
    ("chronyc", "chronyc tracking, asking chronyd -x", 0,
     (r"Reference ID\s*:.*\(PHC0\)", r"System time\s*:",
      r"Leap status\s*:\s*Normal")),
    ("phc2sys", "phc2sys steering CLOCK_REALTIME from the page's PHC",
     None, (r"failed to adjust the clock: Device or resource busy",)),
    ("timesyncd", "systemd-timesyncd, no NTP server, a clock file from"
     " tomorrow", None, (r"Failed to restore system clock",)),
    ("hwclock-systohc", "util-linux hwclock --systohc", 0, ()),
    ("hwclock-hctosys", "util-linux hwclock --hctosys", 1,
     (r"Device or resource busy",)),
    ("date-s", "coreutils date -s", 1, (r"Device or resource busy",)),
    ("adjtimex", "adjtimex (busybox), reading only", 0, (r"maxerror",)),
    ("chronyd-beside-aux", "chronyd following the page's PHC, steering"
     " CLOCK_REALTIME while the feed steers CLOCK_AUX0", None,
     (r"Selected source PHC0",)),
    ("vmclock_feed-aux", "the tree's selftest vmclock_feed -a 0 meanwhile:"
     " CLOCK_AUX0 on the page through the vDSO, CLOCK_REALTIME left free",
     0, (r"ok 1 the auxiliary clock reaches", r"ok 2 vDSO lock",
         r"ok 3 adjtimex\(ADJ_FREQUENCY\) on CLOCK_REALTIME allowed",
         r"# Totals: pass:6 fail:0 .*skip:0")),
)
# Run after the clock's sampling ended, with the feed off CLOCK_REALTIME:
# chronyd steers it, so clock minus page says nothing of the feed
NOT_SAMPLED = ("chronyd-beside-aux", "vmclock_feed-aux")
# The feed's debugfs counters that must not move while the daemons run
FEED_STILL = ("enabled", "state", "dropped", "disruptions",
              "last_timekeeper_error")
# Of the tracker's samples (one each 100 ms), at least this share in the
# window of each daemon that runs on
DAEMON_SAMPLES = 0.7


def plain(line):
    """LINE of a program's log without what differs from run to run:
    chronyd's timestamp, phc2sys's uptime."""
    line = re.sub(r"^\d{4}-\d\d-\d\dT[\d:]+Z ", "", line.strip())
    return re.sub(r"^phc2sys\[[\d.]+\]: ", "", line)


def feed_dumps(lines):
    """The feed's debugfs dumps in LINES, as [{key: value}]."""
    dumps = []
    for line in lines:
        key, _, value = line.partition(":")
        if key == "enabled":
            dumps.append({})
        if dumps:
            dumps[-1][key] = value.strip()
    return dumps


def in_order(log, patterns):
    """The line of LOG each of PATTERNS matches, each after the one
    before; None for a pattern with no such line."""
    hits, i = [], 0
    for pat in patterns:
        while i < len(log) and not re.search(pat, log[i]):
            i += 1
        hits.append(log[i] if i < len(log) else None)
        i += 1
    return hits


def daemon_report(d):
    """The daemons phase: ([(program, what, ended, cpu, quote, worst ns)],
    [(check, ok)])."""
    rows, out = [], []
    progs = d["progs"]
    samples = d["samples"]
    order = sorted(progs, key=lambda n: progs[n]["first"])
    for name, what, rc_want, patterns in DAEMON_EXPECT:
        p = progs.get(name)
        if p is None or "rc" not in p:
            out.append((f"daemons: {name} ran and was reported", False))
            rows.append((name, what, "did not run", "-", "-", None))
            continue
        alive = p["alive"] == "1"
        ended = ("ran on" if alive else
                 "killed at 30 s" if p["rc"] == "137" else
                 f"exited {p['rc']}")
        ok_end = alive if rc_want is None else \
            (not alive and p["rc"] == str(rc_want))
        want = ("run on" if rc_want is None else f"exit {rc_want}")
        out.append((f"daemons: {name} did {want} (did: {ended})", ok_end))
        quote = "-"
        if patterns:
            hits = in_order(p["log"], patterns)
            quote = plain(hits[-1]) if hits[-1] else "-"
            missing = [pat for pat, hit in zip(patterns, hits) if not hit]
            out.append((f"daemons: {name} said, in this order, "
                        + "; ".join(f"/{pat}/" for pat in patterns)
                        + (f" (did not: {'; '.join(missing)})" if missing
                           else f" ({quote})"), not missing))
        i = order.index(name)
        end = (progs[order[i + 1]]["first"] if i + 1 < len(order)
               else len(samples))
        span = samples[p["first"]:end]
        cpu = "-"
        if alive:
            secs, cpusecs = int(p["secs"]), int(p["cpusecs"])
            share = (int(p["cpu"]) / 100 / cpusecs if p["cpu"] != "-"
                     else None)
            lines = int(p["lines"])
            cpu = "-" if share is None else f"{share * 100:.1f} %"
            out.append((f"daemons: {name} used at most"
                        f" {DAEMON_CPU * 100:.0f} % of a CPU over its last"
                        f" {cpusecs} s and wrote at most {DAEMON_LINES_S}"
                        f" lines a second (used {cpu}, wrote {lines} lines"
                        f" in {secs} s)",
                        share is not None and share <= DAEMON_CPU and
                        lines <= DAEMON_LINES_S * secs))
            want_n = int(DAEMON_SAMPLES * secs * 1000 / INTERVAL_MS)
            if name not in NOT_SAMPLED:
                out.append((f"daemons: the clock sampled while {name}"
                            f" ran (at least {want_n} samples:"
                            f" {len(span)})", len(span) >= want_n))
        worst = max(map(surely, span)) if span else None
        rows.append((name, what, ended, cpu, quote, worst))
    worst = max(samples, key=surely, default=None)
    where = "-"
    if worst is not None:
        i = samples.index(worst)
        # The last program started by then
        where = ([n for n in order if progs[n]["first"] <= i] or ["-"])[-1]
    dumps = feed_dumps(d["feed"])
    before, after = (dumps + [{}, {}])[:2]
    moved = [k for k in FEED_STILL + tuple(
        k for k in before if k.startswith("rejected_"))
        if before.get(k) != after.get(k)]
    accepted = (int(after.get("accepted", 0)) -
                int(before.get("accepted", 0)))
    brackets = sorted(x["br"] for x in samples) or [0]
    out += [
        (f"daemons: clock minus page sampled from three seconds after the"
         f" handover to the end, the page always readable ({len(samples)}"
         f" samples, bracket median {statistics.median(brackets):.0f} ns,"
         f" largest {brackets[-1]} ns; {d['noline']} without a line)",
         len(samples) >= 200 and d["noline"] == 0),
        (f"daemons: the clock never surely more than 1 us off the page"
         f" (worst {surely(worst) if worst else 0:.0f} ns beyond half a"
         f" bracket, during {where})",
         worst is not None and surely(worst) <= 1000),
        (f"daemons: CLOCK_REALTIME never stepped (stepped {steps(samples)}"
         " times)", steps(samples) == 0),
        ("daemons: adjtimex() said synchronised in every sample"
         f" (unsynchronised in {sum(x['unsync'] for x in samples)})",
         not any(x["unsync"] for x in samples)),
        ("daemons: adjtimex()'s maxerror never surely short of the offset"
         " (short in"
         f" {sum(surely(x) > x['maxerr_us'] * 1000 for x in samples)};"
         " largest maxerror"
         f" {max((x['maxerr_us'] for x in samples), default=0)} us)",
         not any(surely(x) > x["maxerr_us"] * 1000 for x in samples)),
        (f"daemons: the feed followed the page throughout: following"
         f" before and after, nothing dropped, rejected or disrupted, a new"
         f" page taken at least every 4 s (state"
         f" {before.get('state')}/{after.get('state')}; changed:"
         f" {', '.join(moved) or 'nothing'}; {accepted} pages taken)",
         len(dumps) == 2 and before.get("state") == "following" and
         before.get("enabled") == "yes" and not moved and
         accepted >= len(samples) * INTERVAL_MS / 1000 / 4),
        (f"daemons: every report well formed ({len(d['garbled'])} garbled"
         + (f": {d['garbled'][0]!r}" if d["garbled"] else "") + ")",
         not d["garbled"]),
    ]
    return rows, out


def daemon_table(rows):
    out = ["| program | what | ended | CPU | what it said |"
           " clock surely off the page, worst ns |",
           "|---|---|---|---|---|---|"]
    for name, what, ended, cpu, quote, worst in rows:
        q = quote.replace("|", "\\|")
        out.append(f"| {name} | {what} | {ended} | {cpu} | {q} | "
                   + ("-" if worst is None else f"{worst:.0f}") + " |")
    return "\n".join(out)


def daemon_cover(rows):
    """What each program did, as plain text for the cover letter."""
    out = []
    # The names' column as wide as the longest, and a space after it
    width = max((len(r[0]) for r in rows), default=0) + 1
    for name, _, ended, cpu, quote, worst in rows:
        out.append((f"{name:{width}}{ended:9}" +
                    (f" CPU {cpu}" if cpu != "-" else "")).rstrip())
        if quote != "-":
            out.append(f"{'':{width + 2}}{quote}")
    return "\n".join(out) + "\n"


def plot(results_raw, dat, svg):
    """|offset| against time for each way, log scale, with gnuplot."""
    with open(dat, "w") as f:
        for way, w in results_raw.items():
            f.write(f"# {way}\n")
            for s in w["samples"]:
                f.write(f"{s['t'] / 1000:.1f} {max(abs(s['off']), 1)}\n")
            f.write("\n\n")
    if not shutil.which("gnuplot"):
        return False
    names = list(results_raw)
    plots = ", ".join(f"'{dat}' index {i} with lines title '{n}'"
                      for i, n in enumerate(names))
    script = "\n".join([
        "set terminal svg size 900,500 dynamic",
        f"set output '{svg}'",
        "set logscale y",
        "set xlabel 'seconds (CLOCK_MONOTONIC_RAW)'",
        "set ylabel '|CLOCK_REALTIME - page| ns'",
        "set key top right",
        f"plot {plots}", ""])
    p = subprocess.run(["gnuplot"], input=script, text=True,
                       capture_output=True)
    if p.returncode:
        raise Failure(f"gnuplot failed ({p.returncode}) on {dat}:"
                      f" {p.stderr.strip()}")
    return True


def built_head(top):
    """The commit the label's guest kernel was built from (guest-run's
    record of it), abbreviated; '?' when unknown."""
    try:
        with open(os.path.join(top, "built-from.json")) as f:
            was = json.load(f)
    except (OSError, ValueError):
        return "?"
    head = str(was.get("head", "?"))[:12]
    return head + (" with changes" if was.get("dirty") else "")


def parse_args():
    ap = argparse.ArgumentParser(prog="guest-ways", add_help=False)
    ap.add_argument("-h", "--help", action="store_true")
    ap.add_argument("--tree")
    ap.add_argument("--label", default="test-main")
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--ways", default=",".join(WAYS))
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--no-daemons", action="store_true")
    ap.add_argument("--from-log", action="store_true")
    a, extra = ap.parse_known_args()
    if a.help:
        print(__doc__.strip())
        sys.exit(0)
    if extra:
        raise Failure(f"unknown arguments: {' '.join(extra)}; see --help")
    if not a.tree:
        raise Failure("--tree DIR is required; see --help")
    a.tree = kernel_tree(a.tree)
    if not 4 * STEADY_S <= a.seconds <= 3600:
        raise Failure(f"--seconds {a.seconds}: want {4 * STEADY_S} to 3600"
                      f" (the start, then a steady window of {STEADY_S} s,"
                      " before and after the migration)")
    a.ways = [w for w in a.ways.split(",") if w]
    bad = [w for w in a.ways if w not in WAYS]
    if bad or not a.ways or len(set(a.ways)) != len(a.ways):
        raise Failure(f"--ways {','.join(a.ways)}: want some of"
                      f" {','.join(WAYS)}, each once")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", a.label):
        raise Failure(f"--label {a.label!r}: letters, digits, . _ - only")
    return a


def main():
    a = parse_args()
    top = os.path.join(BUILD, "guest", a.label)
    log_path = os.path.join(top, "console-ways.log")
    # The settings of the boot, for --from-log to read its log with them
    settings_path = os.path.join(top, "ways-settings.json")
    label = f"guest-ways-{a.label}"
    if a.from_log:
        try:
            with open(log_path, errors="replace") as f:
                lines = [(0, line.rstrip("\n")) for line in f]
            with open(settings_path) as f:
                was = json.load(f)
            a.seconds, a.ways = was["seconds"], was["ways"]
            a.no_daemons = was["no_daemons"]
        except OSError as e:
            raise Failure(f"--from-log: {e}")
        except (ValueError, KeyError, TypeError) as e:
            raise Failure(f"--from-log: {settings_path}: garbled ({e})")
        seconds, why = 0, None
    else:
        need_deps("guest-ways")
        kernel, _, provider = built_before(a.tree, top)
        for stale in (provenance_path(label), settings_path):
            if os.path.exists(stale):
                os.unlink(stale)
        if provider is None:
            raise Failure(f"{a.tree}: its ptp_vmclock has no feed; nothing"
                          " to compare")
        tracker = build_tracker(a.tree, os.path.join(top, "kernel", "usr",
                                                     "include"),
                                os.path.join(top, "ways"))
        door_client = None
        if "door" in a.ways:
            door_client = build_door_client(
                a.tree, os.path.join(top, "kernel", "usr", "include"),
                os.path.join(top, "ways"))
        feed_test = None
        if not a.no_daemons:
            feed_test = build_feed_test(
                a.tree, os.path.join(top, "kernel", "usr", "include"),
                os.path.join(top, "ways"))
        initramfs = os.path.join(top, "initramfs-ways.cpio")
        build_initramfs(initramfs,
                        built_modules(os.path.join(top, "kernel")),
                        provider, tracker, a.seconds, a.ways,
                        not a.no_daemons, door_client, feed_test)
        limit = (len(a.ways) * (a.seconds + 30) + BOOT_MARGIN +
                 (0 if a.no_daemons else DAEMONS_S))
        qemu = qemu_command(kernel, initramfs, 1)
        lines, seconds, why = boot(qemu, log_path, limit)
        with open(settings_path, "w") as f:
            json.dump({"seconds": a.seconds, "ways": a.ways,
                       "no_daemons": a.no_daemons}, f)
        # --from-log reads this boot again: its record stays this one
        record_provenance(label, a.tree,
                          os.path.join(top, "kernel", ".config"), qemu[:1],
                          inputs=[FRAGMENT, WAYS_DIR,
                                  os.path.join(TOP, "tools",
                                               "vmclock-provider")],
                          built=built_record(top))
    raw, guest = parse(lines)
    results = {w: figures(raw[w]) if w in raw else None for w in a.ways}

    print(f"# {guest or 'guest did not come up'}; ran {seconds:.0f} s")
    for w in a.ways:
        r = raw.get(w)
        if r and r["reset"]:
            print(f"# {w}: NTP at the start (freq tick status maxerror):"
                  f" {r['reset']}")
        if r is None or not r["ended"]:
            print(f"# {w}: did not run to its end; console log:"
                  f" {os.path.relpath(log_path, TOP)}")
        if r:
            for line in r["log"][-6:]:
                print(f"#   {w}: {line}")
    tab = table(results)
    print(tab)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "guest-ways.json"), "w") as f:
        json.dump({"guest": guest, "seconds": a.seconds, "problem": why,
                   "figures": results,
                   "logs": {w: r["log"] for w, r in raw.items()},
                   "daemons": ({n: {k: v for k, v in p.items()}
                                for n, p in raw["daemons"]["progs"].items()}
                               if "daemons" in raw else None)},
                  f, indent=1)
    md = "\n".join([
        "# Following a vmclock page: the in-kernel feed, chronyd, phc2sys,"
        " the userspace door",
        "",
        "Generated by `tools/guest-ways --write` (see its --help for the"
        " scenario and what each column means); do not edit.", "",
        f"Guest: {guest}, kernel built from {built_head(top)}, one virtual"
        f" CPU, QEMU TCG; {a.seconds} s per way,"
        f" migration at {a.seconds // 2} s.  Offsets are CLOCK_REALTIME"
        " minus the page; the bracket is the time between the two clock"
        " reads around each sample, the noise of every figure; '~' marks a"
        " figure below half the median bracket, not resolved.", "",
        tab, ""])
    with open(os.path.join(RESULTS, "guest-ways.md"), "w") as f:
        f.write(md)
    dat = os.path.join(RESULTS, "guest-ways.dat")
    svg = os.path.join(RESULTS, "guest-ways.svg")
    plotted = plot({w: raw[w] for w in a.ways if w in raw}, dat, svg)
    # Pages for --write, written only when every check below passed
    pages = {"guest-ways.md": md + (
        "\n![|offset| against time](guest-ways.svg)\n" if plotted else ""),
             "guest-ways-cover.txt": cover_text(results, a.seconds),
             # The figures alone, for kunit-table's verdict in the cover
             "guest-ways.json": json.dumps(
                 {"guest": guest, "seconds": a.seconds, "figures": results},
                 indent=1, sort_keys=True) + "\n"}
    if plotted:
        with open(svg, "rb") as f:
            pages["guest-ways.svg"] = f.read()

    report = Report("guest-ways")
    if why:
        report.add("guest", "fail", why)
    for w in a.ways:
        r = raw.get(w)
        why = ("never started" if r is None else
               "; ".join(r["fail"]) or
               ("did not reach its end" if not r["ended"] else
                "no samples" if not r["samples"] else ""))
        report.check(f"{w}: ran to its end with samples", not why, why)
    if "feed" in a.ways:
        for name, ok in checks(results):
            report.check(name, ok)
    if not a.no_daemons:
        d = raw.get("daemons")
        if d is not None:
            for line in d["dmesg"][-10:]:
                print(f"#   daemons, kernel: {line}")
        if d is not None and d["fail"]:
            report.add("daemons: nothing went wrong in the guest", "fail",
                       "; ".join(d["fail"]))
        if d is None or not d["ended"]:
            last = list(d["progs"])[-1] if d and d["progs"] else None
            why = ("never started" if d is None else
                   "did not reach its end" +
                   (f"; the last program started was {last}" if last
                    else ""))
            report.add("daemons: ran to its end", "fail", why)
        else:
            drows, dchecks = daemon_report(d)
            dtab = daemon_table(drows)
            print(dtab)
            dmd = "\n".join([
                "# Time daemons beside the in-kernel feed", "",
                "Generated by `tools/guest-ways --write` (see its --help);"
                " do not edit.", "",
                f"Guest: {guest}, kernel built from {built_head(top)}, one"
                " virtual CPU, QEMU TCG.  The feed follows the test page"
                " (20 ppm fast); each program runs in turn as its Debian"
                " package runs it.  The last column is how far the clock"
                " surely was from the page while it ran (half a bracket of"
                " clock reads allowed for); the clock was sampled from"
                " three seconds after the feed took over from chronyd.", "",
                dtab, "", "The checks:", ""] +
                [f"- {'ok' if ok else 'NOT OK'}: {name}"
                 for name, ok in dchecks] + [""])
            with open(os.path.join(RESULTS, "guest-daemons.md"), "w") as f:
                f.write(dmd)
            pages["guest-daemons.md"] = dmd
            pages["guest-daemons-cover.txt"] = daemon_cover(drows)
            for name, ok in dchecks:
                report.check(name, ok)
    if a.write and report.failed:
        print("guest-ways: Documentation/results/ left as it was: a run"
              " that failed its checks is not published")
    elif a.write:
        sources_provenance([label])
        # The command that writes them again, as a developer types it
        cmd = " ".join(["tools/guest-ways", "--tree",
                        os.path.relpath(a.tree, TOP), "--label", a.label,
                        "--from-log", "--write"])
        for name, text in pages.items():
            publish(name, text, [label], cmd)
        print(f"guest-ways: wrote {len(pages)} pages in"
              f" {os.path.relpath(DOC_RESULTS, TOP)}/")
    return report.close()
