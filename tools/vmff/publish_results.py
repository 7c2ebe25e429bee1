"""Write every page of Documentation/results/ from the last test run.

usage: tools/publish-results

After a full 'tools/test', build/results/ holds what it measured, each
result with a record of where it was measured.  This runs the writers on
those results, as Documentation/results/README.md lists them, booting
nothing:

  tools/guest-ways --from-log --write  the four ways and the daemons
  tools/guest-compare --write ...    the timers selftests, base and series
  tools/qemu-vmclock --write-last    QEMU's vmclock device
  tools/kunit-table --write          the KUnit tables, plots, cover table
                                     (its verdict reads guest-ways.json)

and then 'tools/results-check --complete', which must pass.  Then run
tools/export-series (the cover letter includes some of the pages) and
commit.  Stops at the first writer that fails, naming it.
"""

import glob
import os
import subprocess
import sys

from .core import BUILD, RESULTS, TOP, Failure
from .provenance import provenance_path

T = os.path.join(TOP, "tools")
# Where tools/test built and booted the main stack's series
TREE = os.path.join(BUILD, "test", "main", "linux")
LABEL = "test-main"


def writers():
    # guest-ways first: kunit-table's cover table reads its guest-ways.json
    return [
        [f"{T}/guest-ways", "--tree", TREE, "--label", LABEL, "--from-log",
         "--write"],
        [f"{T}/guest-compare", "--write", "--also", f"{LABEL}-smp1",
         "--also", f"{LABEL}-smp2", "base", LABEL],
        [f"{T}/qemu-vmclock", "--write-last"],
        [f"{T}/kunit-table", "--write"],
        [f"{T}/results-check", "--complete"],
    ]


def main():
    if sys.argv[1:] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    if sys.argv[1:]:
        raise Failure(f"takes no arguments: {' '.join(sys.argv[1:])};"
                      " see --help")
    if not os.path.isdir(TREE):
        raise Failure(f"{os.path.relpath(TREE, TOP)}: no test tree; run"
                      " tools/test first")
    # Every result the writers read must say where it was measured, or
    # nothing is written: no half-rewritten Documentation/results/
    wanted = [f"guest-{r}" for r in ("base", LABEL, f"{LABEL}-smp1",
                                     f"{LABEL}-smp2")]
    wanted += [f"guest-ways-{LABEL}", "qemu-vmclock"]
    wanted += sorted(os.path.basename(p)[:-len(".log")] for p in
                     glob.glob(os.path.join(RESULTS, "test-*.log")))
    missing = [w for w in wanted if not os.path.exists(provenance_path(w))]
    if missing:
        raise Failure("no record of where these were measured, so nothing"
                      " is written: " + ", ".join(missing) + "; run the"
                      " whole test command first")
    for cmd in writers():
        print("+ " + " ".join(os.path.relpath(w, TOP) if w.startswith(TOP)
                              else w for w in cmd), flush=True)
        p = subprocess.run(cmd, text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        lines = p.stdout.rstrip().splitlines()
        for line in lines if p.returncode else lines[-1:]:
            print(f"  {line}")
        if p.returncode:
            raise Failure(f"{os.path.basename(cmd[0])} failed"
                          f" ({p.returncode}); nothing after it ran")
    print("publish-results: done; now tools/export-series, then commit")
    return 0
