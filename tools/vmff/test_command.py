"""The test command: everything the project checks, from a clean checkout.

usage: tools/test [--quick] [--stack DIR]...

Installs what is missing (tools/install-deps), then for every stack (the
main one and each stable/*): fetches its base (those of the stacks after
the first in the background, while the first runs), applies the series
with 'git am' in build/test/<stack>/linux, repeats it through b4 as a reviewer
would, checks that exporting the tree reproduces patches/ byte for byte,
and runs the stack's KUnit suites.  For the main stack also: git
range-diff of v1 (patches/v1/) against the series, and the KUnit cases of
the v2 fixes failing with v1's behaviour put back (kunit/v1-behaviour.patch).
Then checkpatch over every patch
(tools/lint), and the tools' own handling of bad input: an unknown base,
a corrupt or vanished download, a series naming a missing patch, a patch
that does not apply, a dirty tree at export.

The main stack's suites run under UML and under QEMU x86_64 (TCG;
tools/kunit-run).  Then
the main stack runs in a QEMU guest: the timers selftests, upstream's and
ours, on the series and on its unpatched base (tools/guest-run); a pass
on the base that is not a pass with the series fails (tools/guest-compare).
While the two guests run, which mostly sleep, every patch is compiled on
its own, for x86_64 and for i386 and 32-bit arm, and the tip's
warnings are compared (tools/check-builds) under
SCHED_IDLE, on the CPU time the guests leave, from when both are past
their latency tests; from then on a third guest of the series follows the
test page four ways, the feed, chronyd, phc2sys and the RFC's userspace
door (tk_reference_phc), and the feed must
hold its design bounds; then the time daemons a stock guest runs are run
beside the feed, which must keep the clock on the page
(tools/guest-ways).  Then the series' guest on
QEMU's own vmclock device (tools/qemu-vmclock), kernel-doc and the Sphinx build (tools/check-docs), and the mails addressed
by get_maintainer.pl and dry-run through git send-email
(tools/send-dry-run), then sent for real to a local list archive on
loopback and taken back from it with b4 (tools/list-round-trip).

--quick      skip the KUnit, guest and build runs (tooling, documentation,
             send-dry-run and lint only).
--stack DIR  run the per-stack checks for the stack in DIR only (the top
             level or stable/BRANCH; repeatable).  Everything else runs as
             without it, except that the bad-input checks use the first
             stack named, its test tree and its first patch, so that the
             other stacks' test trees are left alone.

Every check prints 'ok' or 'FAIL' with its reason; the last line is
'N passed, N failed', with ', N skipped' when guest selftests skipped.  The exit status is non-zero when anything failed.
"""

import filecmp
import glob
import hashlib
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from .core import BUILD, TOP
from .stacks import (patch_author, read_series, series_header, sparse_am,
                         stack_name, stacks)

T = os.path.join(TOP, "tools")
totals = {"passed": 0, "failed": 0, "skipped": 0}


def tool(*args, env=None, idle=False):
    """Run a tool, return (exit status, combined output).  IDLE runs it
    under SCHED_IDLE: it gets only the CPU time nothing else wants."""
    rc, out, _ = tool_report(*args, env=env, idle=idle)
    return rc, out


def start_tool(*args, env=None, idle=False):
    """Start a tool that reports its checks (vmff.report.Report): a handle for
    finish_tool()."""
    # An empty file is no report: the tool writes it only at its end
    fd, report = tempfile.mkstemp(prefix="vmff-report-", suffix=".json")
    os.close(fd)
    full_env = dict(os.environ, VMFF_REPORT=report)
    full_env.update(env or {})
    p = subprocess.Popen(list(args), env=full_env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         preexec_fn=sched_idle if idle else None)
    return p, report


def finish_tool(handle):
    """(exit status, combined output, the tool's JSON report or None)."""
    p, path = handle
    out, report = "", None
    try:
        out = p.communicate()[0]
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError):
        pass
    finally:
        if os.path.exists(path):
            os.unlink(path)
    if not isinstance(report, dict) or any(
            not isinstance(report.get(k), int)
            for k in ("passed", "failed", "skipped")):
        report = None
    return p.returncode, out, report


def tool_report(*args, env=None, idle=False):
    """Run a tool: (exit status, combined output, its report or None)."""
    return finish_tool(start_tool(*args, env=env, idle=idle))


def sched_idle():
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def sched_idle_allowed():
    """Whether this machine lets a process switch to SCHED_IDLE (a strict
    seccomp profile or a sandboxing kernel may refuse it)."""
    try:
        subprocess.run(["true"], preexec_fn=sched_idle, check=True)
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def record(name, ok, detail=""):
    totals["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}", flush=True)
    if not ok and detail:
        for line in detail.rstrip().splitlines()[-25:]:
            print(f"     {line}")


def expect_ok(name, *args, env=None):
    start = time.monotonic()
    rc, out = tool(*args, env=env)
    record(f"{name} ({time.monotonic() - start:.0f}s)", rc == 0, out)
    return rc == 0, out


def expect_refusal(name, pattern, *args, env=None):
    """The tool must exit non-zero with a message matching PATTERN."""
    rc, out = tool(*args, env=env)
    ok = rc != 0 and re.search(pattern, out) is not None
    record(name, ok, f"exit {rc}, wanted a message matching"
           f" /{pattern}/:\n{out}")
    return ok


def add_counts(name, report, ok, out):
    """Fold a tool's report (vmff.report.Report's JSON) into the totals; a tool
    that wrote none, or exited non-zero with no failed check, fails."""
    if report is None:
        record(f"{name}: wrote its report", False, out)
        return
    p, f, s = report["passed"], report["failed"], report["skipped"]
    totals["passed"] += p
    totals["failed"] += f
    totals["skipped"] += s
    if not ok and f == 0:
        record(f"{name}: exit status", False, out)
    status = "ok  " if ok else "FAIL"
    print(f"{status} {name}: {p} passed, {f} failed"
          + (f", {s} skipped" if s else ""), flush=True)
    if not ok:
        for case in report.get("cases", []):
            if case.get("status") == "fail":
                detail = str(case.get("detail", "")).strip()
                print(f"     not ok {case.get('name')}"
                      + (f": {detail.splitlines()[0]}" if detail else ""))
        print("     ... " + "\n     ".join(out.rstrip().splitlines()[-10:]))


phases = []


class phase:
    """Time a phase of the run, for the table printed at the end."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.start = time.monotonic()

    def __exit__(self, *exc):
        phases.append((self.name, time.monotonic() - self.start))


def print_phases(total):
    print("test: where the time went")
    for name, secs in phases:
        print(f"  {secs:7.0f} s  {100 * secs / max(total, 1):3.0f} %  {name}")
    print(f"  {total:7.0f} s  100 %  in all", flush=True)


def free_gb():
    return shutil.disk_usage(TOP).free / 1e9


def received_bytes():
    """Bytes this machine has received on its interfaces but loopback
    (/proc/net/dev), or None where that cannot be read: what a run
    downloads is the difference."""
    try:
        with open("/proc/net/dev") as f:
            rows = f.read().splitlines()[2:]
    except OSError:
        return None
    total = 0
    for row in rows:
        name, _, fields = row.partition(":")
        if name.strip() != "lo" and fields.split():
            total += int(fields.split()[0])
    return total


def test_tree(stack):
    return os.path.join(BUILD, "test", stack_name(stack), "linux")


def fake_source_deb(where, version, text):
    """A linux-source-like .deb of VERSION in WHERE whose tarball holds
    a README saying TEXT: (path, sha256)."""
    root = tempfile.mkdtemp(dir=where)
    src = os.path.join(root, "src", "linux")
    os.makedirs(src)
    with open(os.path.join(src, "README"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(src, ".gitignore"), "w") as f:
        f.write("*.o\n")
    pkg = os.path.join(root, "pkg")
    os.makedirs(os.path.join(pkg, "usr", "src"))
    os.makedirs(os.path.join(pkg, "DEBIAN"))
    subprocess.run(["tar", "-cJf", os.path.join(pkg, "usr", "src",
                                                "fake-source.tar.xz"),
                    "-C", os.path.join(root, "src"), "linux"], check=True)
    with open(os.path.join(pkg, "DEBIAN", "control"), "w") as f:
        f.write(f"Package: fake-source\nVersion: {version}\n"
                "Architecture: all\nMaintainer: t <t@example.invalid>\n"
                "Description: a stand-in kernel source\n")
    deb = os.path.join(where, f"fake-{version}.deb")
    subprocess.run(["dpkg-deb", "-Zxz", "--root-owner-group", "--build",
                    pkg, deb], check=True, capture_output=True)
    shutil.rmtree(root)
    with open(deb, "rb") as f:
        return deb, hashlib.sha256(f.read()).hexdigest()


def check_repinned_base(scratch):
    """fetch-base makes the base again when its pin changes under the same
    name (as repin does for 6.1.192-2 to 6.1.192-3); it used to keep the
    repository of the old pin."""
    cache = os.path.join(scratch, "repin-cache")
    os.makedirs(os.path.join(cache, "debs"))
    conf = os.path.join(scratch, "repin-bases.conf")
    env = {"VMFF_BASES": conf, "VMFF_CACHE": cache}
    heads = []
    for version in ("9.9-1", "9.9-2"):
        deb, digest = fake_source_deb(scratch, version, f"release {version}")
        shutil.move(deb, os.path.join(cache, "debs",
                                      f"fake-source_{version}_all.deb"))
        with open(conf, "w") as f:
            f.write(f"v9.9 fake-source {version} bookworm {digest}\n")
        rc, out = tool(f"{T}/fetch-base", "v9.9", env=env)
        lines = out.strip().splitlines()
        heads.append(lines[-1].split()[-1] if rc == 0 and lines else None)
    gitdir = os.path.join(cache, "bases", "v9.9.git")
    subject = subprocess.run(["git", "--git-dir", gitdir, "log", "-1",
                              "--format=%s", "base"], text=True,
                             capture_output=True).stdout.strip()
    record("fetch-base makes a base again when its pin changes",
           None not in heads and heads[0] != heads[1]
           and subject == "Linux 9.9 (Debian fake-source 9.9-2)",
           f"heads {heads}, subject {subject!r}")
    # Trees made from the old pin borrow its objects: they must stay
    kept = heads[0] is not None and subprocess.run(
        ["git", "--git-dir", gitdir, "cat-file", "-e",
         heads[0] + "^{commit}"]).returncode == 0
    record("  and keeps the old base, which trees still borrow from", kept,
           f"{heads[0]} is gone from {gitdir}")


def check_bad_pages():
    """results-check on a page directory of its own: a garbled manifest is
    refused, and a page edited by hand or written from another commit than
    this run measured fails."""
    pages = tempfile.mkdtemp(prefix="bad-input-pages-", dir=BUILD)
    label = "bad-input-pages"
    sidecar = os.path.join(BUILD, "results", label + ".provenance.json")
    manifest = os.path.join(pages, "provenance.json")
    try:
        with open(manifest, "w") as f:
            f.write('{"figures.md": {"sha256": "')
        expect_refusal("results-check refuses a truncated manifest",
                       r"provenance\.json: not valid JSON",
                       f"{T}/results-check", "--pages", pages)
        now = {"head": "d" * 40, "tree": "2" * 40, "base": "b" * 40,
               "dirty": False, "config": "c" * 64, "inputs": None}
        with open(sidecar, "w") as f:
            json.dump(now, f)
        text = b"| case | ns |\n"
        with open(os.path.join(pages, "figures.md"), "wb") as f:
            f.write(text + b"| edited | 1 |\n")
        entry = {"written_by": "tools/kunit-table --write",
                 "sha256": hashlib.sha256(text).hexdigest(),
                 "sources": {label: now}}
        with open(manifest, "w") as f:
            json.dump({"figures.md": entry}, f)
        expect_refusal("results-check fails a page edited by hand",
                       r"not ok \d+ figures\.md: intact # changed since",
                       f"{T}/results-check", "--pages", pages)
        with open(os.path.join(pages, "figures.md"), "wb") as f:
            f.write(text)
        entry["sources"] = {label: dict(now, tree="1" * 40)}
        with open(manifest, "w") as f:
            json.dump({"figures.md": entry}, f)
        expect_refusal("results-check fails a page of another commit",
                       r"not ok \d+ figures\.md: current # bad-input-pages:"
                       r" tree 111111111111, this run 222222222222",
                       f"{T}/results-check", "--pages", pages)
    finally:
        shutil.rmtree(pages)
        if os.path.exists(sidecar):
            os.unlink(sidecar)


def check_bad_input(tree, source=TOP):
    """The tools refuse bad input with a clear message and change nothing.

    The series given to apply-series are made on the base of the stack in
    SOURCE, the broken patch from its first one, and applied in TREE.
    """
    expect_refusal("fetch-base refuses an unknown base", r"unknown base",
                   f"{T}/fetch-base", "v0.0")
    expect_refusal("a bad tool argument is refused", r"invalid choice",
                   f"{T}/kunit-run", "--arch", "sparc")
    # A results log whose line lacks a figure its table shows: a test
    # that changed what it prints must not leave an empty cell behind.
    os.makedirs(os.path.join(BUILD, "results"), exist_ok=True)
    bad_log = os.path.join(BUILD, "results", "bad-input-table.log")
    with open(bad_log, "w") as f:
        f.write("    # tk_test_pub_pps: pub_pps signal_lost_after_ms=11000\n")
    expect_refusal("kunit-table refuses a figure line missing a column",
                   r"a pub_pps line has no synchronized, published,"
                   r" max_err_ps", f"{T}/kunit-table", "bad-input-table")
    # A figure no table shows must not vanish from the pages unnoticed.
    with open(bad_log, "w") as f:
        f.write("    # tk_test_new: ref_newcase counter=tsc-3GHz"
                " max_err_ns=3\n")
    expect_refusal("kunit-table refuses a figure kind it has no table for",
                   r"bad-input-table\.log:1: a figure of kind 'ref_newcase'",
                   f"{T}/kunit-table", "bad-input-table")
    os.unlink(bad_log)
    check_bad_pages()
    rc, out, report = tool_report(f"{T}/tool-test")
    add_counts("the tools' parsers on saved logs (tools/tool-test)", report,
               rc == 0, out)
    # A tool's --help is its manual: every command answers it, and exits 0
    helpless = []
    for name in sorted(os.listdir(T)):
        path = os.path.join(T, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            rc, out = tool(path, "--help")
            if rc != 0 or not re.search(r"(?im)^\s*usage:", out):
                helpless.append(f"{name} (exit {rc})")
    record("every tool answers --help with its usage", not helpless,
           "no usage from: " + ", ".join(helpless))
    expect_refusal("install-deps refuses a tool it does not know",
                   r"--for no-such-tool: no tool of that name",
                   f"{T}/install-deps", "--for", "no-such-tool")

    scratch = tempfile.mkdtemp(prefix="vmff-test-")
    try:
        # A small real package stands in for a kernel base, so the
        # download and checksum paths run for real, cheaply.
        conf = os.path.join(scratch, "bases.conf")
        with open(conf, "w") as f:
            f.write("v0.1 bc 1.07.1-3+b1 bookworm " + "0" * 64 + "\n")
            f.write("v0.2 bc 0.0-vanished bookworm " + "0" * 64 + "\n")
        cache = os.path.join(scratch, "cache")
        env = {"VMFF_BASES": conf, "VMFF_CACHE": cache}
        expect_refusal("fetch-base refuses a download whose sha256 differs",
                       r"does not match the pinned", f"{T}/fetch-base",
                       "v0.1", env=env)
        debs = os.path.join(cache, "debs")
        left = os.listdir(debs) if os.path.isdir(debs) else []
        record("  and keeps nothing of it", not left, f"left: {left}")
        garbled = os.path.join(scratch, "garbled.conf")
        with open(garbled, "w") as f:
            f.write("v0.1 bc 1.07.1-3+b1 bookworm\n")
        expect_refusal("fetch-base refuses a garbled bases.conf line",
                       r"garbled\.conf:1: 4 fields; want NAME PACKAGE",
                       f"{T}/fetch-base", "v0.1",
                       env={"VMFF_BASES": garbled, "VMFF_CACHE": cache})
        expect_refusal("fetch-base names a pinned version that vanished",
                       r"cannot download bc=0\.0-vanished.*\n(.*\n)*.*pin",
                       f"{T}/fetch-base", "v0.2", env=env)
        # Re-pinning, on the same stand-in: the vanished pin is named, a
        # version the suite lacks is refused, and the newest is pinned.
        expect_refusal("repin names a pinned version that is gone",
                       r"pinned 0\.0-vanished is gone: 'tools/repin --write"
                       r" v0\.2' pins \S+", f"{T}/repin", "v0.2", env=env)
        before = open(conf).read()
        expect_refusal("repin refuses a version the suite does not have",
                       r"bc 0\.0-nope is not in bookworm", f"{T}/repin",
                       "--write", "v0.2", "--version", "0.0-nope", env=env)
        record("  and leaves bases.conf as it was",
               open(conf).read() == before, open(conf).read())
        ok, out = expect_ok("repin --write pins the suite's newest", f"{T}/repin",
                            "--write", "v0.2", env=env)
        pinned = [ln.split() for ln in open(conf) if ln.startswith("v1.")]
        deb = os.path.join(cache, "debs", f"bc_{pinned[0][2]}_all.deb"
                           if pinned else "none")
        good = (len(pinned) == 1 and pinned[0][1] == "bc"
                and os.path.exists(deb)
                and hashlib.sha256(open(deb, "rb").read()).hexdigest()
                == pinned[0][4])
        record("  renamed for its upstream release, with the sha256 of"
               " what apt fetched", good, open(conf).read())
        check_repinned_base(scratch)

        # A series naming a missing patch.
        base, patches = read_series(source)
        stack = os.path.join(scratch, "stack")
        os.makedirs(os.path.join(stack, "patches"))
        with open(os.path.join(stack, "series"), "w") as f:
            f.write(f"# base: {base}\n0001-missing.patch\n")
        expect_refusal("apply-series refuses a series naming a missing"
                       " patch", r"0001-missing\.patch",
                       f"{T}/apply-series", "--stack", stack, "--tree", tree)

        # A patch whose context no longer matches: the first hunk of the
        # first real patch, with one context line changed.
        real = [p for p in patches if not p.endswith("0000-cover-letter.patch")]
        if real:
            with open(real[0]) as f:
                text = f.read()
            broken = re.sub(r"(\n@@[^\n]*\n) ([^\n]*)", r"\1 \2 broken",
                            text, count=1)
            name = os.path.basename(real[0])
            with open(os.path.join(stack, "patches", name), "w") as f:
                f.write(broken)
            with open(os.path.join(stack, "series"), "w") as f:
                f.write(f"# base: {base}\n{name}\n")
            expect_refusal("apply-series names the patch and hunk that fail",
                           re.escape(name) + r"(.*\n)*.*patch failed: \S+:\d+",
                           f"{T}/apply-series", "--stack", stack,
                           "--tree", tree)
    finally:
        shutil.rmtree(scratch)

    # apply-series made TREE above, so it is a kernel tree by now.  A
    # developer's git am in progress there is refused, not aborted.
    am_state = os.path.join(tree, subprocess.run(
        ["git", "-C", tree, "rev-parse", "--git-path", "rebase-apply"],
        text=True, capture_output=True).stdout.strip())
    os.makedirs(am_state, exist_ok=True)
    marker = os.path.join(am_state, "next")
    with open(marker, "w") as f:
        f.write("1\n")
    try:
        expect_refusal("apply-series refuses a tree with git am in"
                       " progress", r"git am \(or a rebase\) is in"
                       r" progress", f"{T}/apply-series", "--stack", source,
                       "--tree", tree)
        record("  and leaves that git am alone", os.path.exists(marker))
        # One its own run left when it was stopped half way is aborted.
        own = os.path.join(tree, subprocess.run(
            ["git", "-C", tree, "rev-parse", "--git-path",
             "vmff-apply-series-am"], text=True,
            capture_output=True).stdout.strip())
        with open(own, "w") as f:
            f.write("0\n")
        ok, _ = expect_ok("apply-series aborts the git am a stopped run of"
                          " its own left", f"{T}/apply-series", "--stack",
                          source, "--tree", tree)
        record("  and nothing of it is left", ok and not os.path.exists(
            am_state) and not os.path.exists(own))
    finally:
        shutil.rmtree(am_state, ignore_errors=True)
    expect_refusal("guest-run refuses a directory that is no kernel tree",
                   r"not a kernel tree", f"{T}/guest-run", "--tree",
                   os.path.join(TOP, "tools"))
    expect_refusal("guest-run refuses a test not in its list",
                   r"not in tools/guest-tests\.conf: no-such-test",
                   f"{T}/guest-run", "--tree", tree, "--only",
                   "no-such-test")
    expect_refusal("guest-run --boot-only refuses a guest never built",
                   r"bzImage is missing; build it first with --build-only",
                   f"{T}/guest-run", "--tree", tree, "--label",
                   "never-built", "--boot-only")
    expect_refusal("guest-ways refuses a way it does not know",
                   r"--ways feed,ntpd: want some of feed,chronyd,phc2sys",
                   f"{T}/guest-ways", "--tree", tree, "--ways", "feed,ntpd")
    expect_refusal("guest-ways refuses runs too short for its windows",
                   r"--seconds 20: want 120 to 3600", f"{T}/guest-ways",
                   "--tree", tree, "--seconds", "20")
    expect_refusal("guest-ways --from-log refuses a label never run",
                   r"--from-log: .*console-ways\.log", f"{T}/guest-ways",
                   "--tree", tree, "--label", "never-run", "--from-log")
    expect_refusal("qemu-vmclock refuses a bad label", r"bad label",
                   f"{T}/qemu-vmclock", "--tree", tree, "--label", "../x")
    expect_refusal("fetch-qemu refuses arguments", r"fetch-qemu",
                   f"{T}/fetch-qemu", "--no-such-option")
    expect_refusal("guest-compare refuses a run that does not exist",
                   r"no results for 'no-such-run'", f"{T}/guest-compare",
                   "no-such-run", "no-such-run")
    truncated = os.path.join(BUILD, "results", "guest-bad-input-cut.json")
    with open(truncated, "w") as f:
        f.write('{"tests": [{"name": "nanosleep", "sta')
    expect_refusal("guest-compare refuses a truncated results file",
                   r"guest-bad-input-cut\.json: unreadable results",
                   f"{T}/guest-compare", "bad-input-cut", "bad-input-cut")
    os.unlink(truncated)
    expect_refusal("check-builds refuses a directory that is no kernel tree",
                   r"not a kernel git tree", f"{T}/check-builds", "--tree",
                   os.path.join(TOP, "tools"))
    expect_refusal("check-docs refuses a directory that is no kernel tree",
                   r"not a kernel git tree", f"{T}/check-docs", "--tree",
                   os.path.join(TOP, "tools"))
    expect_refusal("send-dry-run refuses a directory with no series",
                   r"no series file", f"{T}/send-dry-run", "--stack",
                   os.path.join(TOP, "tools"))
    placeholder = send_placeholder()
    expect_refusal("send-dry-run refuses to send as the patches'"
                   " placeholder identity", r"placeholder identity",
                   f"{T}/send-dry-run", "--from", placeholder)
    expect_refusal("send-dry-run refuses a sender that cannot receive mail",
                   r"cannot receive mail", f"{T}/send-dry-run", "--from",
                   "A Submitter <submitter@example.com>")
    expect_refusal("send-dry-run refuses a malformed sender",
                   r"not of the form", f"{T}/send-dry-run", "--from",
                   "submitter-without-brackets")
    expect_refusal("send-dry-run sends for real only where nothing but"
                   " loopback is reachable",
                   r"only from a network namespace with nothing but"
                   r" loopback", f"{T}/send-dry-run", "--from",
                   TEST_SENDER, "--smtp-port", "25")


# Who the test command sends the mails as: git send-email --dry-run in a
# network namespace, so the address is never used.
TEST_SENDER = "Tess Submitter <tess@localhost>"


def send_placeholder():
    """The identity the exported patches carry (the cover letter's From:)."""
    _, patches = read_series(TOP)
    return patch_author(patches[0])


def check_dirty_export(tree):
    """Export refuses a dirty tree and leaves patches/ as it was."""
    victim = os.path.join(tree, "README")
    pdir = os.path.join(TOP, "patches")
    before = {f: open(os.path.join(pdir, f), "rb").read()
              for f in os.listdir(pdir) if f.endswith(".patch")}
    with open(victim, "a") as f:
        f.write("dirty\n")
    try:
        expect_refusal("export-series refuses a dirty tree",
                       r"uncommitted changes", f"{T}/export-series",
                       "--tree", tree)
        after = {f: open(os.path.join(pdir, f), "rb").read()
                 for f in os.listdir(pdir) if f.endswith(".patch")}
        record("  and leaves patches/ alone", before == after)
    finally:
        subprocess.run(["git", "-C", tree, "checkout", "-q", "--",
                        "README"])


def check_without_fix(stack, tree):
    """A stack's own tests must fail on its base without its fixes.

    The series header names the test-only patches ('# test-only: GLOB');
    applied alone on the base they must make the stack's KUnit suites
    fail, or they do not test what the stack fixes.  The full series is
    applied again afterwards.
    """
    name = stack_name(stack)
    globs = series_header(stack)[1].get("test-only", "").split()
    if not globs:
        return
    base, patches = read_series(stack)
    scratch = tempfile.mkdtemp(prefix="vmff-unfixed-")
    try:
        os.makedirs(os.path.join(scratch, "patches"))
        keep = [p for p in patches
                if any(fnmatch.fnmatch(os.path.basename(p), g)
                       for g in globs)]
        with open(os.path.join(scratch, "series"), "w") as f:
            f.write(f"# base: {base}\n")
            for p in keep:
                shutil.copy(p, os.path.join(scratch, "patches"))
                f.write(os.path.basename(p) + "\n")
        ok, _ = expect_ok(f"{name}: test patches alone apply on the base",
                          f"{T}/apply-series", "--stack", scratch,
                          "--tree", tree)
        if ok:
            rc, out, report = tool_report(
                f"{T}/kunit-run", "--stack", stack, "--tree", tree,
                "--label", f"test-{name}-unfixed-um",
                "--build-label", f"test-{name}-um")
            failed = report["failed"] if report else 0
            record(f"{name}: KUnit fails without the fix ({failed} cases"
                   " fail)", rc != 0 and failed > 0, out)
    finally:
        shutil.rmtree(scratch)
        tool(f"{T}/apply-series", "--stack", stack, "--tree", tree)


def check_v1_behaviour(stack, tree):
    """The KUnit cases of the v2 fixes must fail with v1's behaviour.

    kunit/v1-behaviour.patch puts v1's code back, in v2's interfaces, and
    names the cases ('Fails: suite.case[.param]') that must then fail.  It is
    applied to the tree, the UML suites run in the main build directory
    (an incremental build), and the tree is put back.
    """
    patch = os.path.join(stack, "kunit", "v1-behaviour.patch")
    if not os.path.isfile(patch):
        return
    want = re.findall(r"(?m)^Fails: (\S+)$", open(patch).read())
    ok, _ = expect_ok("main: v1's behaviour applies to the series' tree",
                      "git", "-C", tree, "apply", patch)
    if not ok:
        return
    try:
        rc, out, report = tool_report(
            f"{T}/kunit-run", "--stack", stack, "--tree", tree,
            "--kunitconfig",
            os.path.join(stack, "kunit", "timekeeping.kunitconfig"),
            "--label", "v1-behaviour-main-um",
            "--build-label", "test-main-um")
        failed = {c["name"] for c in (report or {}).get("cases", [])
                  if c["status"] == "fail"}
        # A parameterised case named alone fails when any run of it does
        missing = [c for c in want if c not in failed and
                   not any(f.startswith(c + ".") for f in failed)]
        record(f"main: the v2 fixes' cases fail with v1's behaviour"
               f" ({len(want)} named, {len(failed)} failed)",
               rc != 0 and bool(want) and not missing,
               "did not fail: " + " ".join(missing) + "\n" + out)
    finally:
        subprocess.run(["git", "-C", tree, "checkout", "-q", "--", "."])


def check_range_diff(stack, tree):
    """git range-diff of v1 (patches/v1/) against the series.

    v1 is applied with git am on the base in a scratch worktree of the
    test tree; which patch became which is printed, and the whole
    range-diff saved in build/results/range-diff-v1-v2.txt.
    """
    vdir = os.path.join(stack, "patches", "v1")
    if not os.path.isfile(os.path.join(vdir, "series")):
        return
    names = [n.strip() for n in open(os.path.join(vdir, "series"))
             if n.strip() and not n.startswith("#")
             and not n.startswith("0000-")]
    scratch = tempfile.mkdtemp(prefix="vmff-v1-")
    wt = os.path.join(scratch, "linux")
    try:
        start = time.monotonic()
        p = sparse_am(tree, wt, "base", [os.path.join(vdir, n)
                                         for n in names])
        ok = p.returncode == 0
        record(f"main: v1 applies on the base (git am,"
               f" {time.monotonic() - start:.0f}s)", ok, p.stdout + p.stderr)
        if not ok:
            return
        v1 = subprocess.run(["git", "-C", wt, "rev-parse", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
        rc, out = tool("git", "-C", tree, "range-diff", "--no-color",
                       f"base..{v1}", "base..HEAD")
        ok = rc == 0 and bool(out.strip())
        if ok:
            dest = os.path.join(BUILD, "results", "range-diff-v1-v2.txt")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w") as f:
                f.write(out)
            # The patch lines; the full diff is in the file
            for line in out.splitlines():
                if re.match(r"\s*(\d+|-):\s+\S+ [=!<>] ", line):
                    print(f"     {line}")
            print(f"     (in full: {os.path.relpath(dest, TOP)})", flush=True)
        record(f"main: git range-diff v1..v2 ({len(names)} patches in v1)",
               ok, out)
    finally:
        subprocess.run(["git", "-C", tree, "worktree", "remove", "--force",
                        wt], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


def start_prefetch(later):
    """Fetch the bases of the LATER stacks in the background, one after
    the other, at nice 19: unpacking a Debian source package and making
    its repository is mostly one core's work and disk, which the main
    stack's KUnit runs (one core each) leave free.  Returns (Popen, log,
    base names, start time), or None when there is nothing to fetch."""
    names = []
    for stack in later:
        base, _ = read_series(stack)
        if base not in names:
            names.append(base)
    if not names:
        return None
    log = tempfile.TemporaryFile(mode="w+")
    # A session of its own, so that stop_prefetch() can end it whole
    p = subprocess.Popen(
        ["sh", "-c", 'for b; do "$0" "$b" || exit; done',
         f"{T}/fetch-base"] + names, text=True, stdout=log,
        stderr=subprocess.STDOUT, preexec_fn=lambda: os.nice(19),
        start_new_session=True)
    return p, log, names, time.monotonic()


def stop_prefetch(prefetch):
    """End start_prefetch()'s fetches if they still run: a run that stops
    early must not leave fetch-base writing into .cache/ for the next."""
    if prefetch is not None and prefetch[0].poll() is None:
        os.killpg(prefetch[0].pid, signal.SIGTERM)
        prefetch[0].wait()


def finish_prefetch(prefetch):
    """Wait for start_prefetch()'s fetches; a failure is recorded here and
    repeated, with its reason, by the stack's own apply-series."""
    if prefetch is None:
        return
    p, log, names, start = prefetch
    rc = p.wait()
    log.seek(0)
    record(f"bases of the other stacks fetched beside the main stack"
           f" ({' '.join(names)}; done {time.monotonic() - start:.0f}s"
           " after it began)", rc == 0, log.read())
    log.close()


def check_stack(stack, quick):
    name = stack_name(stack)
    tree = test_tree(stack)
    ok, _ = expect_ok(f"{name}: git am of the series on its base",
                      f"{T}/apply-series", "--stack", stack, "--tree", tree)
    if not ok:
        return
    expect_ok(f"{name}: b4 am round trip gives the same tree",
              f"{T}/apply-series", "--b4", "--stack", stack, "--tree", tree)
    out = tempfile.mkdtemp(prefix="vmff-export-")
    try:
        shutil.rmtree(out)
        ok, msg = expect_ok(f"{name}: export of the tree runs",
                            f"{T}/export-series", "--stack", stack,
                            "--tree", tree, "--out", out)
        if ok:
            pdir = os.path.join(stack, "patches")
            names = sorted(f for f in os.listdir(pdir)
                           if f.endswith(".patch"))
            same = sorted(os.listdir(out)) == names and all(
                filecmp.cmp(os.path.join(out, n), os.path.join(pdir, n),
                            shallow=False) for n in names)
            diff = subprocess.run(["diff", "-ru", pdir, out], text=True,
                                  capture_output=True).stdout
            record(f"{name}: export reproduces patches/ byte for byte",
                   same, diff)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if name == "main":
        check_dirty_export(tree)
        check_range_diff(stack, tree)
    if quick:
        return
    check_without_fix(stack, tree)
    # i386 and arm64 (tools/kunit-run --arch i386|arm64, then kunit-table
    # --same-figures test-main-x86_64 LABEL) are left out until a cut
    # elsewhere makes room for them in the time budget: with i386 the
    # cold run of c567feb took 62 minutes, its kernel 376 s of it.
    arches = ["um", "x86_64"] if name == "main" else ["um"]
    for arch in arches:
        args = [f"{T}/kunit-run", "--stack", stack, "--tree", tree,
                "--arch", arch, "--label", f"test-{name}-{arch}"]
        if arch != "um":
            # Under TCG the slow variants cost minutes; UML runs them.
            args += ["--filter", "speed>slow"]
        start = time.monotonic()
        rc, out, report = tool_report(*args)
        add_counts(f"{name}: KUnit under {arch}"
                   f" ({time.monotonic() - start:.0f}s)", report, rc == 0,
                   out)
        if name == "main" and arch == "um":
            check_v1_behaviour(stack, tree)


def start_guests():
    """Build the guests of the base and of the main stack, and boot them
    side by side: the Popen of each guest-run, or None when a build
    failed."""
    base_tree = os.path.join(BUILD, "test", "base", "linux")
    ok, _ = expect_ok("base tree for the guest runs", f"{T}/apply-series",
                      "--tree", base_tree, "--upto", "0")
    if not ok:
        return None
    guests = (("base", base_tree), ("test-main", test_tree(TOP)))
    for label, tree in guests:
        ok, _ = expect_ok(f"guest kernel and initramfs of {label} build",
                          f"{T}/guest-run", "--tree", tree, "--label", label,
                          "--build-only")
        if not ok:
            return None
    # Both guests boot side by side, one virtual CPU each on the two
    # cores: half the wall time, and the same conditions for both.
    # --boot-only: the builds beside them check out other commits.  The
    # console logs of earlier runs go first: wait_latency_tests() reads
    # the new ones.
    for label, _ in guests:
        log = os.path.join(BUILD, "guest", label, "console.log")
        if os.path.exists(log):
            os.unlink(log)
    return {label: start_tool(f"{T}/guest-run", "--tree", tree, "--label",
                              label, "--smp", "1", "--boot-only")
            for label, tree in guests}


def wait_latency_tests(procs, limit=400):
    """Wait until both guests are past the tests guest-tests.conf runs side
    by side ('&' lines: the latency tests, rtcpie, set-timer-lat and the
    like), which fail now and then even with the builds beside them under
    SCHED_IDLE: until each guest has begun a test outside that group, or
    has ended, or LIMIT seconds."""
    with open(os.path.join(T, "guest-tests.conf")) as f:
        group = {line.split()[1] for line in f if line.startswith("&")}
    begun = re.compile(r"^@@@ begin (\S+)$", re.M)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        waiting = []
        for label, (p, _) in procs.items():
            if p.poll() is not None:
                continue
            try:
                with open(os.path.join(BUILD, "guest", label,
                                       "console.log"), errors="replace") as f:
                    names = begun.findall(f.read())
            except OSError:
                names = []
            if not any(n not in group for n in names):
                waiting.append(label)
        if not waiting:
            return
        time.sleep(2)
    print(f"note: the guests' latency tests still ran after {limit} s;"
          " the builds start anyway", flush=True)


def finish_guests(procs):
    """The series in a running kernel: the timers selftests, ours and
    upstream's, in QEMU guests of the base and of the main stack.

    Each test of the series' guest counts: a pass as passed, a skip as
    skipped, a failure as failed, except that a failure the base has too
    (under emulation some latency tests fail on any kernel) counts as
    skipped and says so.  The series' own tests, which the base does not
    have, must pass: a skip there means the device did not come up.
    tools/guest-compare then checks that no pass on the base is anything
    else with the series.
    """
    # Both guests are waited for before either is judged, so that none
    # runs on into the next phase.
    done = {label: finish_tool(h) for label, h in procs.items()}
    runs = {}
    for label, (_, out, report) in done.items():
        path = os.path.join(BUILD, "results", f"guest-{label}.json")
        try:
            with open(path) as f:
                runs[label] = {t["name"]: t for t in json.load(f)["tests"]}
        except (OSError, ValueError, KeyError):
            record(f"guest run of {label}", False, out)
            return
        # The guest's own time: the builds beside it may end later.
        if report:
            print(f"     {label}: {report['passed']} passed,"
                  f" {report['failed']} failed, {report['skipped']} skipped"
                  f" (guest ran {report.get('seconds', '?')}s)", flush=True)
    base = runs["base"]
    for name, t in runs["test-main"].items():
        b = base.get(name, {}).get("status")
        ours = base.get(name, {}).get("detail") == "not in this tree"
        if t["status"] == "pass":
            record(f"guest: {name}", True)
        elif ours:
            # The series' own tests must run, not skip.
            record(f"guest: {name}, new with the series ({t['detail']})",
                   False, "\n".join(t.get("output", [])))
        elif t["status"] == "skip" or b == "fail":
            totals["skipped"] += 1
            why = (t["detail"] if t["status"] == "skip" else
                   f"fails on the base too: {t['detail']}")
            print(f"skip guest: {name} ({why})", flush=True)
        else:
            record(f"guest: {name} ({t['detail']})", False,
                   "\n".join(t.get("output", [])))
    expect_ok("guest: the series turns no pass on the base into a fail or"
              " skip", f"{T}/guest-compare", "base", "test-main")

    # The series' kernel booted again, alone on the machine, with only
    # vmclock_host, once with one virtual CPU and once with two: right
    # after boot, while the clock still runs on tsc-early, so that its
    # readers see tsc replace it; with two CPUs the readers also race
    # with page updates, where on one they only take turns.
    for smp in (1, 2):
        check_vmclock_host_boot(smp)


def start_ways():
    """The series' guest following the test provider's page four ways,
    the feed, chronyd, phc2sys and the door (tools/guest-ways): its
    Popen.  It
    boots the kernel start_guests() built, once the latency tests are
    over; it mostly sleeps too."""
    return start_tool(f"{T}/guest-ways", "--tree", test_tree(TOP),
                      "--label", "test-main")


def finish_ways(handle):
    """The feed against its design bounds in the guest, with chronyd's,
    phc2sys's and the door's figures beside it (measured, not judged)."""
    rc, out, report = finish_tool(handle)
    table = [line for line in out.splitlines() if line.startswith("|")]
    for line in table:
        print(f"     {line}", flush=True)
    add_counts("the feed, chronyd, phc2sys and the door following one"
               " page, and time daemons beside the feed (tools/guest-ways)",
               report,
               rc == 0, out)


def check_vmclock_host_boot(smp):
    """vmclock_host right after boot with SMP virtual CPUs: it must pass,
    and its boot clocksource case must have run, not skipped."""
    results = f"test-main-smp{smp}"
    start = time.monotonic()
    rc, out, report = tool_report(
        f"{T}/guest-run", "--tree", test_tree(TOP), "--label", "test-main",
        "--results", results, "--smp", str(smp), "--only", "vmclock_host",
        "--boot-only")
    ok = rc == 0 and report is not None and \
        (report["passed"], report["failed"], report["skipped"]) == (1, 0, 0)
    lines = []
    try:
        with open(os.path.join(BUILD, "results",
                               f"guest-{results}.json")) as f:
            lines = json.load(f)["tests"][0].get("output", [])
    except (OSError, ValueError, KeyError, IndexError):
        pass
    ran = any(re.match(r"ok \d+ readers across the boot clocksource"
                       r" change$", line) for line in lines)
    seconds = time.monotonic() - start
    record(f"guest with {smp} CPU{'s' if smp > 1 else ''} right after boot:"
           f" vmclock_host ({seconds:.0f}s)", bool(ok), out)
    record("  and its boot clocksource case ran and passed (not skipped)",
           ran, "\n".join(lines))
    for line in lines:
        if re.match(r"# (?!Totals)", line):
            print(f"     {line}", flush=True)


def check_qemu_vmclock():
    """The series' guest on QEMU's own vmclock device: the driver probes
    it, declines its page and sees a restore's disruption."""
    rc, out, report = tool_report(f"{T}/qemu-vmclock", "--tree",
                                  test_tree(TOP), "--label", "test-main")
    add_counts("QEMU's vmclock device (tools/qemu-vmclock)", report, rc == 0,
               out)


def check_builds(idle):
    """Each patch compiled on its own (=y, =m, =n), and the tip with W=1,
    sparse and an arm64 cross compiler against the base.  IDLE: beside
    the guests, which mostly sleep, on the CPU time they leave."""
    start = time.monotonic()
    rc, out, report = tool_report(f"{T}/check-builds", "--keep-going",
                                  "--tree", test_tree(TOP), idle=idle)
    add_counts(f"builds of every patch and warnings (tools/check-builds,"
               f" {time.monotonic() - start:.0f}s)", report, rc == 0, out)
    # Where its time went, for the budget of this command
    if report and report.get("seconds"):
        print("     check-builds: time: " + ", ".join(
            f"{kind} {secs} s" for kind, secs in report["seconds"].items()),
            flush=True)


def check_send_ready():
    """What a maintainer checks before reading: kernel-doc and the
    documentation build, and the mail going out to the right people."""
    rc, out, report = tool_report(f"{T}/check-docs", "--tree",
                                  test_tree(TOP))
    add_counts("kernel-doc and Sphinx (tools/check-docs)", report, rc == 0,
               out)
    expect_ok("get_maintainer.pl and git send-email --dry-run, as a"
              " submitter (tools/send-dry-run)", f"{T}/send-dry-run",
              "--tree", test_tree(TOP), "--from", TEST_SENDER)
    start = time.monotonic()
    rc, out, report = tool_report(f"{T}/list-round-trip", "--tree",
                                  test_tree(TOP), "--from", TEST_SENDER)
    add_counts(f"sent for real to a local list archive, taken back with b4"
               f" (tools/list-round-trip, {time.monotonic() - start:.0f}s)",
               report, rc == 0, out)


def parse_args(args):
    """(quick, [stack dirs]) from the command line, or None if it is bad."""
    quick, only = False, []
    while args:
        a = args.pop(0)
        if a == "--quick":
            quick = True
        elif a == "--stack" and args:
            only.append(args.pop(0))
        elif a.startswith("--stack="):
            only.append(a.split("=", 1)[1])
        else:
            return None
    return quick, only


def main():
    args = sys.argv[1:]
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    parsed = parse_args(list(args))
    if parsed is None:
        print(f"test: unknown arguments {' '.join(args)}; see --help",
              file=sys.stderr)
        return 2
    quick, only = parsed
    all_stacks = stacks()
    if only:
        chosen = [os.path.abspath(d) for d in only]
        unknown = [d for d, c in zip(only, chosen) if c not in all_stacks]
        if unknown:
            print(f"test: not a stack: {' '.join(unknown)}; stacks are the"
                  " top level and stable/* with a series file",
                  file=sys.stderr)
            return 2
        all_stacks = [s for s in all_stacks if s in chosen]
    # Stopped from outside, the finally clauses still run (stop_prefetch)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    start = time.monotonic()
    received_at_start = received_bytes()
    # A full run keeps five kernel trees and their builds: about 13 GB.
    # Say what there was, so that a run that dies of a full disk says so.
    print(f"test: {free_gb():.1f} GB free on {TOP}", flush=True)
    with phase("packages (tools/install-deps)"):
        ok, _ = expect_ok("dependencies installed", f"{T}/install-deps")
    if not ok:
        print(f"{totals['passed']} passed, {totals['failed']} failed")
        return 1
    # Only this run's records of where each result was measured count
    for stale in glob.glob(os.path.join(BUILD, "results",
                                        "*.provenance.json")):
        os.unlink(stale)
    with phase("bad input"):
        check_bad_input(test_tree(all_stacks[0]), all_stacks[0])
    # The first stack's base is in place (the bad-input checks applied
    # to it); the others' are fetched while it runs.
    prefetch = start_prefetch(all_stacks[1:])
    try:
        for n, stack in enumerate(all_stacks):
            with phase(f"stack {stack_name(stack)}: base, apply, b4,"
                       " export, KUnit"):
                if n == 1:
                    finish_prefetch(prefetch)
                check_stack(stack, quick)
    finally:
        stop_prefetch(prefetch)
    if not quick and TOP in all_stacks:
        # The guests' selftests mostly sleep: the builds of every patch
        # run beside them under SCHED_IDLE, which gives the guests the
        # CPU whenever they want it, once the latency tests are over
        # (rtcpie failed once in six guest runs with the builds beside it).
        with phase("guests: selftests on base and series, and four ways to"
                   " follow a page; beside them,"
                   " builds of every patch, warnings"):
            procs = start_guests()
            if procs and not sched_idle_allowed():
                # At normal priority, builds beside the guests make
                # their latency tests fail: one after the other then.
                print("note: SCHED_IDLE is refused here; the builds of"
                      " every patch run after the guests", flush=True)
                finish_guests(procs)
                finish_ways(start_ways())
                check_builds(idle=False)
            else:
                ways = None
                if procs:
                    wait_latency_tests(procs)
                    ways = start_ways()
                check_builds(idle=procs is not None)
                if procs:
                    # Before finish_guests(), whose last boots run alone
                    finish_ways(ways)
                    finish_guests(procs)
        with phase("QEMU's vmclock device"):
            check_qemu_vmclock()
    if TOP in all_stacks:
        with phase("kernel-doc, Sphinx, the mails (dry run, local list)"):
            check_send_ready()
    # checkpatch runs in the trees above: a second checkout of each
    # kernel would cost 1.5 GB a stack of disk.
    lint = [f"{T}/lint", "--trees", os.path.join(BUILD, "test")]
    for stack in all_stacks if only else []:
        lint += ["--stack", stack]
    with phase("checkpatch"):
        rc, out, report = tool_report(*lint)
        add_counts("checkpatch --strict on every patch", report, rc == 0,
                   out)
    with phase("Debian's own changes to what the stacks touch"):
        rc, out, report = tool_report(f"{T}/debian-changes", "--check",
                                      *all_stacks)
        add_counts("no item of Debian's changelog changes a file a stack"
                   " touches (tools/debian-changes)", report, rc == 0, out)
    with phase("results tables"):
        if not quick:
            # The suites are deterministic: the committed tables must be
            # what this run measured.
            expect_ok("Documentation/results/ matches this run's figures",
                      f"{T}/kunit-table", "--check")
        # Every page, the timings too, must come from what this run
        # measured: the same commits, bases and kernel options.
        check = [f"{T}/results-check"]
        if not quick and not only:
            check.append("--complete")
        rc, out, report = tool_report(*check)
        add_counts("Documentation/results/ written from this run's series"
                   " (tools/results-check)", report, rc == 0, out)
    print_phases(time.monotonic() - start)
    print(f"test: {time.monotonic() - start:.0f}s wall,"
          f" {free_gb():.1f} GB left free")
    received = received_bytes()
    if received is not None and received_at_start is not None:
        print(f"test: {(received - received_at_start) / 1e6:.0f} MB received"
              " over the network during the run (every interface but"
              " loopback, whoever received it)")
    print(f"{totals['passed']} passed, {totals['failed']} failed"
          + (f", {totals['skipped']} skipped" if totals["skipped"] else ""))
    return 1 if totals["failed"] else 0
