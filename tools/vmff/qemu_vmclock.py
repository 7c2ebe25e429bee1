"""Boot the series' guest on QEMU's own vmclock device and check the driver.

usage: tools/qemu-vmclock [--tree DIR] [--label L] [--write]
       tools/qemu-vmclock --write-last

QEMU 9.2 and later have a vmclock device of their own (-device vmclock).
Its page carries no time (counter_id INVALID); it exists for its
disruption marker, which QEMU changes when a guest is restored from saved
state.  This boots the guest kernel that tools/guest-run builds from the
tree DIR (default: the main stack's work tree) under the QEMU of
tools/fetch-qemu, TCG only, with that device, and with an initramfs of its
own that loads ptp_vmclock with its feed on.  Checked:

  probe      the driver binds QEMU's ACPI device and registers its
             miscdev, with no PTP clock (the page has no counter);
  declined   the feed reads the page, counts it as rejected_counter, hands
             nothing to the timekeeper, and the driver logs no error;
  restore    the guest is snapshotted (QMP snapshot-save) and, a few
             seconds later, restored (snapshot-load): the driver sees the disruption
             marker change and logs it once, and still follows nothing;
  migrate    the guest's state is migrated to a file, that QEMU quits, and
             a second QEMU resumes the guest from the file: the driver
             sees the disruption marker change again.

The console of both QEMUs is kept in build/guest/LABEL-qemu-vmclock/;
The snapshot's image is a qcow2 made there with the same tree's
qemu-img.  QEMU is driven through QMP: each step waits for what QEMU
reports (a job concluded, a MIGRATION event), not for a time.
Prints TAP and ends with 'qemu-vmclock: N passed, N failed'.  What was
run and what the guest printed go to build/results/qemu-vmclock.md, with
where it ran in qemu-vmclock.provenance.json; --write also publishes the
page as Documentation/results/qemu-vmclock.md.  --write-last boots
nothing: it publishes the page of the last run (tools/test's, say).
"""

import argparse
import os
import re
import subprocess
import time

from .core import BUILD, RESULTS, TOP, Failure, run
from .deps import need_deps
from .guest import BUSYBOX, FRAGMENT, Cpio, built_record
from .provenance import publish, record_provenance
from .qmp import QMP
from .report import Report
from .stacks import default_tree

T = os.path.join(TOP, "tools")
APPLETS = ["sh", "mount", "cat", "echo", "sleep", "insmod", "dmesg", "grep",
           "sed", "poweroff", "ls"]
BOOT_LIMIT = 180
FEED = "/sys/kernel/debug/vmclock0/feed"

# The guest's side: every line of interest is prefixed '@@@ ' so that the
# host can tell it from the kernel's console output.
INIT = f"""#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
insmod /modules/ptp_vmclock.ko feed=1
sleep 3
for d in /sys/bus/platform/devices/*; do
	echo "@@@ device ${{d##*/}}"
done
ls /dev | grep -e '^vmclock' -e '^ptp' | sed 's/^/@@@ dev /'
sed 's/^/@@@ before /' {FEED}
# Wait for the host's restore, then for its migration: each changes the
# disruption marker once.
for n in 1 2; do
	echo "@@@ ready $n"
	i=0
	while [ $i -lt 240 ] && ! grep -q "^disruptions: $n$" {FEED}; do
		sleep 0.5
		i=$((i + 1))
	done
	sed "s/^/@@@ after$n /" {FEED}
done
dmesg | grep -i vmclock | sed 's/^/@@@ dmesg /'
echo "@@@ done"
poweroff -f
"""


def build_initramfs(kernel_dir, path):
    cpio = Cpio()
    for d in ["bin", "dev", "proc", "sys", "modules"]:
        cpio.dir(d)
    cpio.chardev("dev/console", 5, 1)
    with open(BUSYBOX, "rb") as f:
        cpio.file("bin/busybox", f.read())
    for a in APPLETS:
        cpio.symlink(f"bin/{a}", "busybox")
    ko = os.path.join(kernel_dir, "drivers", "ptp", "ptp_vmclock.ko")
    if not os.path.exists(ko):
        raise Failure(f"{ko} missing: does tools/guest.config still build "
                      "ptp_vmclock as a module?")
    with open(ko, "rb") as f:
        cpio.file("modules/ptp_vmclock.ko", f.read(), 0o644)
    cpio.file("init", INIT.encode())
    with open(path, "wb") as f:
        f.write(cpio.finish())


class Guest:
    """One QEMU process; its console lines, and its QMP monitor."""

    def __init__(self, cmd, log, monitor):
        self.log = log
        self.monitor = monitor
        self.monitor_conn = None
        log.write("# " + " ".join(cmd) + "\n")
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.buf = b""
        self.lines = []

    def wait_for(self, marker, limit):
        """Collect console lines until one contains MARKER; True if seen."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            chunk = self.p.stdout.read()
            if chunk:
                self.buf += chunk
                *done, self.buf = self.buf.split(b"\n")
                for raw in done:
                    text = raw.decode(errors="replace").rstrip("\r")
                    self.lines.append(text)
                    self.log.write(text + "\n")
                    if marker in text:
                        return True
            elif self.p.poll() is not None:
                return False
            else:
                time.sleep(0.05)
        return False

    def qmp(self):
        """The guest's QMP connection, made on first use."""
        if self.monitor_conn is None:
            self.monitor_conn = QMP(self.monitor, log=self.log)
        return self.monitor_conn

    def stop(self):
        if self.monitor_conn is not None:
            self.monitor_conn.close()
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def grab(lines, prefix):
    """{key: value} of the '@@@ PREFIX key: value' lines."""
    out = {}
    for line in lines:
        m = re.search(rf"@@@ {prefix} (\w+): (\S+)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def results_page(version, commands, qmp, tap, lines):
    """The page qemu-vmclock.md: what ran and what it said."""
    def top(command):
        return [w.replace(TOP + os.sep, "") for w in command]

    text = ["# ptp_vmclock on QEMU's own vmclock device", "",
            "Written by `tools/qemu-vmclock --write`; the guest kernel is "
            "the series' guest of `tools/guest-run`, its initramfs the "
            "tool's own.", "", f"{version}.  The guest was started with:",
            "", "    " + " ".join(top(commands[0])), "",
            "Its QMP monitor was given, when the guest asked for it: "
            + ", ".join(f"`{c}`" for c in qmp)
            + " (the snapshots as jobs, each waited for until QEMU"
            " reported it concluded, the migration until its MIGRATION"
            " event said completed); the guest resumed from the file"
            " in:", ""]
    if len(commands) > 1:
        text += ["    " + " ".join(top(commands[1])), ""]
    text += ["## Result", "", "```"] + tap + ["```", "",
             "## What the guest printed", "", "```"]
    text += [l for l in lines if l.startswith("@@@ ")
             and not re.search(r"@@@ (before|after\d) \w+: 0$", l)]
    text += ["```", "", "Counters that stayed 0 are left out.", ""]
    return "\n".join(text)


def parse_args():
    ap = argparse.ArgumentParser(
        usage=argparse.SUPPRESS, description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", help="kernel tree (default: the main stack's)")
    ap.add_argument("--label", default="dev",
                    help="guest-run label to build under (default: dev)")
    ap.add_argument("--write", action="store_true",
                    help="write Documentation/results/qemu-vmclock.md")
    ap.add_argument("--write-last", action="store_true",
                    help="publish the last run's page; boot nothing")
    a = ap.parse_args()
    if a.write_last and (a.write or a.tree or a.label != "dev"):
        ap.error("--write-last takes no other option")
    if a.write_last:
        return a
    if not re.fullmatch(r"[\w-][\w.-]*", a.label):
        ap.error(f"bad label '{a.label}': letters, digits, '.', '_', '-'")
    a.tree = os.path.abspath(a.tree or default_tree(TOP))
    if not os.path.isdir(a.tree):
        ap.error(f"no kernel tree at {a.tree}")
    return a


def write_last():
    """Publish build/results/qemu-vmclock.md, the last run's page."""
    path = os.path.join(RESULTS, "qemu-vmclock.md")
    if not os.path.exists(path):
        raise Failure(f"--write-last: {os.path.relpath(path, TOP)}: no run"
                      " to publish; run tools/qemu-vmclock or tools/test")
    with open(path) as f:
        publish("qemu-vmclock.md", f.read(), ["qemu-vmclock"],
                "tools/qemu-vmclock --write-last")
    print("# wrote Documentation/results/qemu-vmclock.md")
    return 0


def main():
    a = parse_args()
    if a.write_last:
        return write_last()
    need_deps("qemu-vmclock")
    qemu = run([os.path.join(T, "fetch-qemu")],
               capture=True).stdout.strip().splitlines()[-1]
    run([os.path.join(T, "guest-run"), "--tree", a.tree, "--label", a.label,
         "--build-only"])
    kernel_dir = os.path.join(BUILD, "guest", a.label, "kernel")
    top = os.path.join(BUILD, "guest", f"{a.label}-qemu-vmclock")
    os.makedirs(top, exist_ok=True)
    initramfs = os.path.join(top, "initramfs.cpio")
    build_initramfs(kernel_dir, initramfs)
    state = os.path.join(top, "state.bin")
    disk = os.path.join(top, "vmstate.qcow2")
    monitor = os.path.join(top, "monitor.sock")
    for p in (state, disk, monitor):
        if os.path.exists(p):
            os.unlink(p)
    # A snapshot keeps the guest's state in a qcow2 image: an empty one
    # will do
    run([os.path.join(os.path.dirname(qemu), "run-qemu-img"), "create", "-q",
         "-f", "qcow2", disk, "64M"])

    cmd = [qemu, "-accel", "tcg", "-m", "512", "-smp", "1", "-nographic",
           "-no-reboot", "-device", "vmclock",
           "-blockdev", f"driver=file,filename={disk},node-name=vmstate-file",
           "-blockdev", "driver=qcow2,file=vmstate-file,node-name=vmstate",
           "-qmp", f"unix:{monitor},server=on,wait=off",
           "-kernel", os.path.join(kernel_dir, "arch", "x86", "boot",
                                   "bzImage"),
           "-initrd", initramfs,
           "-append", "console=ttyS0 panic=-1 loglevel=7"]
    version = run([qemu, "--version"], capture=True).stdout.splitlines()[0]
    results, commands, qmp = [], [cmd], []
    monitor_error = None
    snapshot = {"tag": "s1", "vmstate": "vmstate", "devices": ["vmstate"]}
    with open(os.path.join(top, "console.log"), "w") as log:
        first = Guest(cmd, log, monitor)
        migrated = False
        try:
            if first.wait_for("@@@ ready 1", BOOT_LIMIT):
                # A snapshot, and a restore of it a few seconds of guest
                # time later; each a job, waited for until it concluded
                qmp += ["snapshot-save", "snapshot-load"]
                first.qmp().run_job("snapshot-save", "save", **snapshot)
                time.sleep(3)
                first.qmp().run_job("snapshot-load", "load", **snapshot)
            if first.wait_for("@@@ ready 2", BOOT_LIMIT):
                qmp += [f"migrate file:{os.path.basename(state)}", "quit"]
                mon = first.qmp()
                mon.execute("migrate-set-capabilities", capabilities=[
                    {"capability": "events", "state": True}])
                mon.execute("migrate", uri=f"file:{state}")
                status = mon.wait_event(
                    "MIGRATION", 120, lambda d: d.get("status") in
                    ("completed", "failed", "cancelled"))["status"]
                migrated = status == "completed"
                if not migrated:
                    log.write(f"# migration {status}\n")
                mon.execute("quit")
        except Failure as e:
            log.write(f"# {e}\n")
            monitor_error = str(e)
        finally:
            first.stop()
        lines = list(first.lines)
        if migrated:
            if os.path.exists(monitor):
                os.unlink(monitor)
            commands.append(cmd + ["-incoming", f"file:{state}"])
            second = Guest(commands[-1], log, monitor)
            try:
                second.wait_for("@@@ done", BOOT_LIMIT)
            finally:
                second.stop()
            lines += second.lines

    results.append(("QMP: QEMU did what it was asked", monitor_error is None,
                    monitor_error or ", ".join(qmp)))
    before = grab(lines, "before")
    after1, after2 = grab(lines, "after1"), grab(lines, "after2")
    devices = [l.split("@@@ device ", 1)[1] for l in lines
               if "@@@ device " in l]
    devs = [l.split("@@@ dev ", 1)[1] for l in lines if "@@@ dev " in l]
    dmesg = [l.split("@@@ dmesg ", 1)[1] for l in lines if "@@@ dmesg " in l]
    errors = [l for l in dmesg if re.search(r"fail|error|invalid", l, re.I)]
    disrupted = [l for l in dmesg if "disruption marker" in l]

    results.append(("probe: the driver binds QEMU's device, miscdev only",
                    any(d.startswith(("VMCLOCK", "AMZNC10C")) for d in devices)
                    and "vmclock0" in devs
                    and not any(d.startswith("ptp") for d in devs),
                    f"devices {' '.join(devices)}; /dev: {' '.join(devs)}"))
    results.append(("declined: page counted as rejected_counter, nothing fed,"
                    " no driver error",
                    before.get("rejected_counter", "0") != "0"
                    and before.get("accepted") == "0"
                    and before.get("state") == "waiting" and not errors,
                    f"state {before.get('state')}, rejected_counter "
                    f"{before.get('rejected_counter')}, accepted "
                    f"{before.get('accepted')}; errors: {errors or 'none'}"))
    results.append(("restore (snapshot-save, -load): the driver sees the"
                    " disruption once, follows nothing",
                    after1.get("disruptions") == "1"
                    and after1.get("accepted") == "0",
                    f"disruptions {after1.get('disruptions')}, vm_generation"
                    f"_changes {after1.get('vm_generation_changes')}, "
                    f"accepted {after1.get('accepted')}"))
    results.append(("migrate (to a file, resumed in a new QEMU): the"
                    " disruption once more, one log line each",
                    after2.get("disruptions") == "2"
                    and after2.get("accepted") == "0"
                    and len(disrupted) == 2,
                    f"disruptions {after2.get('disruptions')}, accepted "
                    f"{after2.get('accepted')}; log: {disrupted}"))

    # The page shows the TAP as a reader of the page sees it
    tap = ["TAP version 13", f"# {version}, -device vmclock, TCG",
           f"1..{len(results)}"]
    for i, (name, ok, detail) in enumerate(results, 1):
        tap += [f"{'ok' if ok else 'not ok'} {i} {name}", f"#   {detail}"]
    report = Report("qemu-vmclock", f"{version}, -device vmclock, TCG")
    for name, ok, detail in results:
        report.check(name, ok, detail)
    page = results_page(version, commands, qmp, tap, lines)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "qemu-vmclock.md"), "w") as f:
        f.write(page)
    record_provenance("qemu-vmclock", a.tree,
                      os.path.join(kernel_dir, ".config"), [qemu],
                      inputs=[FRAGMENT],
                      built=built_record(os.path.join(BUILD, "guest",
                                                      a.label)))
    if a.write:
        publish("qemu-vmclock.md", page, ["qemu-vmclock"],
                "tools/qemu-vmclock --write")
        print("# wrote Documentation/results/qemu-vmclock.md")
    print(f"# console: {os.path.relpath(top, TOP)}/console.log")
    return report.close()
