"""Run the project's KUnit suites in a stack's kernel tree.

usage: tools/kunit-run [--stack DIR] [--tree DIR] [--arch um|x86_64]
                       [--kunitconfig FILE]... [--filter EXPR] [--label L]
                       [--build-label B]

kunit.py builds and runs the kunitconfigs (default: every kunit/*.kunitconfig
of the stack) under UML, or under QEMU with --arch=x86_64.  QEMU runs with
TCG only: kunit/qemu-tcg/ comes first in PATH and drops the KVM request
kunit.py makes, since KVM guests hang on these machines.

Build directories stay in build/kunit/LABEL between runs (LABEL defaults to
<stack>-<arch>; --build-label shares another run's) and compile through
ccache.  The results are kept for other
tools as build/results/LABEL.json (kunit.py's JSON) and LABEL.log (the raw
kernel log).

Each kunitconfig names the suites it must produce on a '# suites:' line,
and may limit the arches it runs on with an '# arches:' line (those
without one run on every arch).
The run fails if kunit.py fails, a test fails or crashes, or a suite named
there did not run.  The last line says: LABEL: N passed, N failed, N skipped.
"""

import glob
import json
import os
import shutil

from .build import compiler, compiler_env
from .core import BUILD, RESULTS, TOP, Failure, doc_parser, run
from .deps import need_deps
from .provenance import provenance_path, record_provenance
from .report import Report
from .stacks import default_tree, stack_name

# The QEMU kunit.py runs for each --arch it boots (UML needs none)
QEMU = {"x86_64": "qemu-system-x86_64"}


def config_arches(path):
    """The arches a kunitconfig's '# arches:' line allows, or None (all)."""
    with open(path) as f:
        for line in f:
            if line.startswith("# arches:"):
                return line.split(":", 1)[1].split()
    return None


def expected_suites(kunitconfigs):
    suites = []
    for path in kunitconfigs:
        with open(path) as f:
            for line in f:
                if line.startswith("# suites:"):
                    suites += line.split(":", 1)[1].split()
    return suites


def walk(group, cases, prefix=""):
    """Every test case in kunit.py's JSON, recursively, appended to CASES
    as (suite.case.parameter, kunit.py's status)."""
    for case in group.get("test_cases", []):
        cases.append((prefix + case.get("name", "?"),
                      case.get("status", "")))
    for sub in group.get("sub_groups", []):
        walk(sub, cases, prefix + sub.get("name", "?") + ".")


def case_status(status):
    """A report's pass, skip or fail for kunit.py's status of a case:
    anything but PASS and SKIP (FAILURE, CRASHED, NO_TESTS...) fails."""
    return {"PASS": "pass", "SKIP": "skip"}.get(status, "fail")


def suite_results(data):
    """{suite name: its JSON group} for the top-level groups."""
    groups = data.get("sub_groups", [])
    return {g.get("name"): g for g in groups}


def main():
    ap = doc_parser(__doc__)
    ap.add_argument("--stack", default=TOP)
    ap.add_argument("--tree")
    ap.add_argument("--arch", default="um", choices=["um", "x86_64"])
    ap.add_argument("--kunitconfig", action="append")
    ap.add_argument("--filter")
    ap.add_argument("--label")
    ap.add_argument("--build-label",
                    help="build directory to use (default: the label's)")
    ap.add_argument("--timeout", type=int, default=1200)
    a = ap.parse_args()
    need_deps("kunit-run")

    stack = os.path.abspath(a.stack)
    tree = os.path.abspath(a.tree or default_tree(stack))
    kunit_py = os.path.join(tree, "tools", "testing", "kunit", "kunit.py")
    if not os.path.isfile(kunit_py):
        raise Failure(f"{tree}: no kunit.py; run tools/apply-series first")
    configs = [os.path.abspath(c) for c in a.kunitconfig] if a.kunitconfig \
        else sorted(glob.glob(os.path.join(stack, "kunit", "*.kunitconfig")))
    if not configs:
        raise Failure(f"no kunitconfig in {stack}/kunit/")
    for c in configs:
        if not os.path.isfile(c):
            raise Failure(f"{c}: no such kunitconfig")
    if not a.kunitconfig:
        configs = [c for c in configs
                   if a.arch in (config_arches(c) or [a.arch])]
    suites = expected_suites(configs)
    label = a.label or f"{stack_name(stack)}-{a.arch}"

    build_dir = os.path.join(BUILD, "kunit", a.build_label or label)
    os.makedirs(build_dir, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    json_out = os.path.join(RESULTS, label + ".json")
    log_out = os.path.join(RESULTS, label + ".log")
    for stale in (json_out, log_out, provenance_path(label)):
        if os.path.exists(stale):
            os.unlink(stale)

    cmd = [kunit_py, "run", f"--arch={a.arch}", f"--build_dir={build_dir}",
           f"--json={json_out}", f"--jobs={os.cpu_count() or 1}",
           f"--timeout={a.timeout}"]
    cmd += [f"--kunitconfig={c}" for c in configs]
    if a.filter:
        cmd.append(f"--filter={a.filter}")
    env = compiler_env({})
    if compiler() != "gcc":
        cmd.append(f"--make_options=CC={compiler()}")
    if a.arch != "um":
        env["PATH"] = os.path.join(TOP, "kunit", "qemu-tcg") + os.pathsep + \
            os.environ.get("PATH", "")
    p = run(cmd, cwd=tree, env=env, check=False)

    if os.path.exists(os.path.join(build_dir, "test.log")):
        shutil.copyfile(os.path.join(build_dir, "test.log"), log_out)
    record_provenance(label, tree, os.path.join(build_dir, ".config"),
                      [QEMU[a.arch]] if a.arch in QEMU else None,
                      inputs=configs)
    # kunit.py printed every case; the report shows only what did not pass
    report = Report(label, show_passes=False)
    problems = []
    cases = []
    data = {}
    if os.path.exists(json_out):
        try:
            with open(json_out) as f:
                data = json.load(f)
        except ValueError as e:
            # kunit.py killed part way leaves half a file
            problems.append(f"{json_out}: not valid JSON ({e})")
            data = {}
        if not isinstance(data, dict):
            problems.append(f"{json_out}: not kunit.py's results")
            data = {}
        walk(data, cases)
    else:
        problems.append("kunit.py wrote no JSON results")
    for name, status in cases:
        report.add(name, case_status(status),
                   status if case_status(status) == "fail" else "")
    ran = suite_results(data)
    for s in suites:
        if s not in ran:
            report.add(f"suite {s}", "fail", "did not run")
    for msg in problems:
        report.add("kunit.py's results", "fail", msg)
    # kunit.py exits 1 when a case failed; otherwise its failure is ours
    if p.returncode != 0 and not report.failed:
        report.add("kunit.py", "fail", f"exited with {p.returncode}")
    return report.close()
