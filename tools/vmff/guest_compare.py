"""Compare two guest selftests runs: the series must not regress the base.

usage: tools/guest-compare [--write] [--also LABEL]... BASE_LABEL SERIES_LABEL

Reads build/results/guest-BASE_LABEL.json and guest-SERIES_LABEL.json
(written by tools/guest-run) and prints, per test, the status and run time
on each kernel.  It fails when a test that passed on the base fails or is
skipped with the series, or when either guest did not run to the end.

--write  also writes the comparison to
         Documentation/results/guest-selftests.md, and its summary for the
         cover letter (what the series' own tests measured) to
         Documentation/results/cover-guest.txt.
--also L also reports the series' tests of run L, a further boot of the
         series' kernel (tools/test boots it again right after boot for
         vmclock_host, as test-main-smp1 with one virtual CPU and
         test-main-smp2 with two); it is not compared.
"""

import json
import os
import re
import sys

from .core import DOC_RESULTS, RESULTS, TOP, Failure
from .provenance import publish

DOC = os.path.join(DOC_RESULTS, "guest-selftests.md")
COVER = os.path.join(DOC_RESULTS, "cover-guest.txt")
# The lines of the series' selftests that carry their measurements.
MEASURED = re.compile(r"^# (?! ).*(off the page|outside \[t1, t2\]|live"
                      r" migration|last_disruption_offset_ns|readers on"
                      r"|copies of|torn, |samples more than|unload: "
                      r"|poll\(\) returned)")


def load(label):
    path = os.path.join(RESULTS, f"guest-{label}.json")
    try:
        with open(path) as f:
            run = json.load(f)
    except FileNotFoundError:
        raise Failure(f"no results for {label!r} ({path}); run"
                      f" tools/guest-run --label {label} first")
    except (OSError, ValueError) as e:
        raise Failure(f"{path}: unreadable results: {e}")
    if not isinstance(run.get("tests"), list):
        raise Failure(f"{path}: no 'tests' list")
    return run


def cell(r):
    if r is None:
        return "-"
    if r["status"] == "pass":
        return f"pass ({r['seconds']:.0f} s)"
    return f"{r['status']}: {r['detail']}"


def compare(base, series):
    """(markdown lines, [regressions])"""
    b = {t["name"]: t for t in base["tests"]}
    s = {t["name"]: t for t in series["tests"]}
    names = [t["name"] for t in series["tests"]]
    names += [n for n in b if n not in s]
    regressions = []
    rows = ["| test | base | series |", "|---|---|---|"]
    for n in names:
        bt, st = b.get(n), s.get(n)
        if bt and bt["status"] == "pass" and (st is None
                                              or st["status"] != "pass"):
            regressions.append(f"{n}: pass on the base, "
                               f"{st['status'] if st else 'not run'}"
                               " with the series")
        rows.append(f"| {n} | {cell(bt)} | {cell(st)} |")
    for run in (base, series):
        if run.get("problem"):
            regressions.append(f"{run['label']}: {run['problem']}")
    return rows, regressions


def new_tests(base, series):
    """What the tests the base does not have said, their '#' lines."""
    b = {t["name"]: t for t in base["tests"]}
    out = []
    for t in series["tests"]:
        if b.get(t["name"], {}).get("detail") != "not in this tree":
            continue
        said = [line for line in t.get("output", [])
                if line.startswith("# ") and "Totals" not in line]
        out += ["", f"## {t['name']} (new with the series): {t['status']}",
                ""] + [f"    {line}" for line in said]
    return out


def differences(base, series):
    """What the tests that pass on one kernel and not the other printed
    last on each."""
    b = {t["name"]: t for t in base["tests"]}
    out = []
    for t in series["tests"]:
        bt = b.get(t["name"])
        if not bt or bt["status"] == t["status"] or \
                bt.get("detail") == "not in this tree":
            continue
        out += ["", f"## {t['name']}: {bt['status']} on the base,"
                f" {t['status']} with the series", ""]
        for label, run in (("base", bt), ("series", t)):
            out += [f"{label}, last lines:", ""]
            out += [f"    {line}" for line in run.get("output", [])[-18:]]
            out.append("")
    return out


def measured(base, run):
    """The measurement lines of RUN's tests that BASE does not have."""
    b = {t["name"]: t for t in base["tests"]}
    out = []
    for t in run["tests"]:
        if b.get(t["name"], {}).get("detail") != "not in this tree":
            continue
        said = [line[2:] for line in t.get("output", [])
                if MEASURED.search(line)]
        out += ["", f"{t['name']} ({t['status']}):"]
        out += [f"  {line}" for line in said]
    return out


def cover_text(base, series, regressions, also):
    """Plain text for the cover letter: the totals, what changed between
    base and series, and the measurement lines of the series' tests."""
    b = {t["name"]: t for t in base["tests"]}
    fixed = [t["name"] for t in series["tests"] if t["status"] == "pass"
             and b.get(t["name"], {}).get("status") == "fail"]
    out = ["Timers selftests, upstream's and the series', in QEMU guests"
           " (x86_64, TCG):",
           f"  base:   {summary(base, times=False)}",
           f"  series: {summary(series, times=False)}",
           "  passes on the base that do not pass with the series: "
           + (str(len(regressions)) if regressions else "none"),
           "  fail on the base, pass with the series: "
           + (", ".join(fixed) or "none"),
           "  fail on both (under emulation): " + (", ".join(
               t["name"] for t in series["tests"] if t["status"] == "fail"
               and b.get(t["name"], {}).get("status") == "fail") or "none")]
    out += measured(base, series)
    for run in also:
        out += ["", f"Again ({run['label']}, {run.get('smp', '?')} CPUs):"]
        out += ["  " + line if line else line
                for line in measured(base, run)[1:]]
    return "\n".join(out) + "\n"


def summary(run, times=True):
    c = {"pass": 0, "fail": 0, "skip": 0}
    for t in run["tests"]:
        c[t["status"]] = c.get(t["status"], 0) + 1
    return (f"{c['pass']} passed, {c['fail']} failed, {c['skip']} skipped"
            + (f" in {run['seconds']:.0f} s" if times else ""))


def main():
    args = sys.argv[1:]
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    write = "--write" in args
    args = [a for a in args if a != "--write"]
    also = []
    while "--also" in args:
        i = args.index("--also")
        if i + 1 >= len(args) or args[i + 1].startswith("-"):
            raise Failure("--also wants a LABEL; see --help")
        also.append(args[i + 1])
        del args[i:i + 2]
    bad = [a for a in args if a.startswith("-")]
    if bad or len(args) != 2:
        raise Failure("want BASE_LABEL SERIES_LABEL (and optionally"
                      " --write, --also LABEL); see --help")
    base, series = load(args[0]), load(args[1])
    also = [load(label) for label in also]
    rows, regressions = compare(base, series)
    text = [
        "# Timers selftests in a QEMU guest, base against series",
        "",
        "Written by `tools/guest-compare --write` from the runs of"
        " `tools/guest-run` (x86_64, TCG, the Kconfig fragment"
        " tools/guest.config; tests and time limits in"
        " tools/guest-tests.conf, which also says what is not run and"
        " why).  Run times are wall-clock seconds under emulation, noisy.",
        "",
        f"- base ({base['label']}): {base.get('guest', '')}:"
        f" {summary(base)}",
        f"- series ({series['label']}): {series.get('guest', '')}:"
        f" {summary(series)}",
        "",
    ] + rows + [
        "",
        "Regressions (a pass on the base that is not a pass with the"
        " series): " + ("; ".join(regressions) if regressions else "none")
        + ".",
    ] + new_tests(base, series) + differences(base, series)
    for run in also:
        text += ["", f"## Again: {run['label']} ({run.get('smp', '?')}"
                 f" virtual CPUs, {run.get('guest', '')})", "",
                 summary(run), ""]
        text += [f"- {t['name']}: {t['status']}, {t['detail']}"
                 for t in run["tests"]]
        text += measured(base, run)
    print("\n".join(text))
    if write:
        sources = [f"guest-{r['label']}" for r in [base, series] + also]
        cmd = "tools/guest-compare --write " + " ".join(
            a for a in sys.argv[1:] if a != "--write")
        publish(os.path.basename(DOC), "\n".join(text) + "\n", sources,
                cmd)
        publish(os.path.basename(COVER),
                cover_text(base, series, regressions, also), sources, cmd)
        print(f"guest-compare: wrote {os.path.relpath(DOC, TOP)} and"
              f" {os.path.relpath(COVER, TOP)}")
    if regressions:
        print("guest-compare: the series regresses the base:",
              file=sys.stderr)
        for r in regressions:
            print(f"  {r}", file=sys.stderr)
        return 1
    return 0
