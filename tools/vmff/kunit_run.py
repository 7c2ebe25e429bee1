"""Run the project's KUnit suites in a stack's kernel tree.

usage: tools/kunit-run [--stack DIR] [--tree DIR]
                       [--arch um|x86_64|i386|arm64]
                       [--kunitconfig FILE]... [--filter EXPR] [--label L]
                       [--build-label B]

Under UML (the default) kunit.py builds and runs the kunitconfigs
(default: every kunit/*.kunitconfig of the stack whose '# arches:' line
allows the arch).  Under QEMU (--arch x86_64, i386 or arm64) this tool
configures the kernel itself, with allnoconfig and a fragment: what
kunit.py's QEMU of that arch needs (kunit/arch/ARCH.config) and the
kunitconfigs, every line of which .config must then have; it builds the
image kunit.py boots and hands it to 'kunit.py exec'.  kunit.py run
would lay the kunitconfigs over olddefconfig, every option's default:
for x86_64 that kernel took 490 s to build with an empty cache, the
allnoconfig one 195 s, with the same 727 cases passing.  arm64 is
cross-compiled with aarch64-linux-gnu-gcc.  QEMU runs with TCG only:
kunit/qemu-tcg/ comes first in PATH and drops the KVM request kunit.py
makes, since KVM guests hang on these machines.

Build directories stay in build/kunit/LABEL between runs (LABEL defaults to
<stack>-<arch>; --build-label shares another run's) and compile through
ccache.  The results are kept for other
tools as build/results/LABEL.json (kunit.py's JSON) and LABEL.log (the raw
kernel log).

Each kunitconfig names the suites it must produce on a '# suites:' line,
and may limit the arches it runs on with an '# arches:' line (those
without one run on every arch).
The run fails if the build or kunit.py fails, a test fails or crashes, or
a suite named there did not run.  The last line says: LABEL: N passed,
N failed, N skipped.
"""

import glob
import json
import os
import re
import shutil

from .build import compiler, compiler_env
from .core import BUILD, RESULTS, TOP, Failure, doc_parser, run
from .deps import need_deps
from .provenance import provenance_path, record_provenance
from .report import Report
from .stacks import default_tree, stack_name

# The QEMU kunit.py runs for each --arch it boots (UML needs none)
QEMU = {"x86_64": "qemu-system-x86_64", "i386": "qemu-system-i386",
        "arm64": "qemu-system-aarch64"}

# For each QEMU arch: make's arguments, the compiler, and the image that
# kunit.py's QEMU configuration (tools/testing/kunit/qemu_configs/) boots
ARCHES = {
    "x86_64": (["ARCH=x86_64"], "gcc", "bzImage"),
    "i386": (["ARCH=i386"], "gcc", "bzImage"),
    "arm64": (["ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"],
              "aarch64-linux-gnu-gcc", "Image.gz"),
}


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


def config_lines(path):
    """{symbol: value} of a fragment or kunitconfig, as kunit.py reads
    them: 'CONFIG_X=v' lines, and '# CONFIG_X is not set' as 'n'."""
    wanted = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"(CONFIG_\w+)=(.*)$", line.strip()) or \
                re.match(r"# (CONFIG_\w+) is not set$", line.strip())
            if m:
                wanted[m.group(1)] = m.group(2) if m.lastindex == 2 \
                    else "n"
    return wanted


def symbol_defined(tree, sym):
    """Whether a Kconfig file of TREE defines SYM (CONFIG_ left out)."""
    return run(["git", "-C", tree, "grep", "-q", "-E",
                rf"^\s*(menu)?config {sym}$", "--", "*Kconfig*"],
               check=False, capture=True).returncode == 0


def build_qemu_kernel(tree, build_dir, arch, configs):
    """allnoconfig with kunit/arch/ARCH.config and CONFIGS laid over it,
    then the image kunit.py boots; a Failure names what went wrong."""
    wanted, source = {}, {}
    for path in [os.path.join(TOP, "kunit", "arch", f"{arch}.config")] + \
            configs:
        for sym, value in config_lines(path).items():
            if sym in wanted and wanted[sym] != value:
                raise Failure(f"{sym} is {wanted[sym]} in {source[sym]}"
                              f" but {value} in {path}")
            wanted[sym], source[sym] = value, path
    frag = os.path.join(build_dir, "kunit-run.config")
    with open(frag, "w") as f:
        f.write("".join(f"# {sym} is not set\n" if v == "n" else
                        f"{sym}={v}\n" for sym, v in wanted.items()))
    args, cc, image = ARCHES[arch]
    make = ["make", "-s", "-C", tree, f"O={build_dir}",
            f"CC={compiler(cc)}"] + args
    env = compiler_env()
    p = run(make + [f"KCONFIG_ALLCONFIG={frag}", "allnoconfig"], env=env,
            check=False, capture=True)
    if p.returncode != 0:
        raise Failure(f"make allnoconfig for {arch} failed:\n"
                      + p.stdout + p.stderr)
    have = config_lines(os.path.join(build_dir, ".config"))
    lost = [f"{sym}={v} ({os.path.relpath(source[sym], TOP)};"
            + (" its dependencies are not met)" if
               symbol_defined(tree, sym[len("CONFIG_"):])
               else " no Kconfig of this tree defines it)")
            for sym, v in wanted.items() if have.get(sym, "n") != v]
    if lost:
        raise Failure(f"the {arch} KUnit kernel's .config lost: "
                      + ", ".join(lost) + f"; see {build_dir}/.config")
    print(f"kunit-run: building the {arch} kernel in {build_dir}",
          flush=True)
    p = run(make + [f"-j{os.cpu_count() or 1}", image], env=env,
            check=False)
    if p.returncode != 0:
        raise Failure(f"the {arch} KUnit kernel did not build (make"
                      f" exited with {p.returncode}; its errors above)")


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
    ap.add_argument("--arch", default="um", choices=["um", *ARCHES])
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
    for stale in (json_out, log_out, provenance_path(label),
                  os.path.join(build_dir, "test.log")):
        if os.path.exists(stale):
            os.unlink(stale)

    env = compiler_env({})
    if a.arch == "um":
        cmd = [kunit_py, "run", f"--jobs={os.cpu_count() or 1}"]
        if compiler() != "gcc":
            cmd.append(f"--make_options=CC={compiler()}")
    else:
        build_qemu_kernel(tree, build_dir, a.arch, configs)
        cmd = [kunit_py, "exec"]
        env["PATH"] = os.path.join(TOP, "kunit", "qemu-tcg") + os.pathsep + \
            os.environ.get("PATH", "")
    cmd += [f"--arch={a.arch}", f"--build_dir={build_dir}",
            f"--json={json_out}", f"--timeout={a.timeout}"]
    cmd += [f"--kunitconfig={c}" for c in configs]
    if a.filter:
        cmd.append(f"--filter={a.filter}")
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
