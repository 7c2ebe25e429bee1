"""Install the Debian packages the tools need, or say how.

usage: tools/install-deps [--check] [--for TOOL]

The packages, and what each must provide, are listed in tools/deps.conf.
A package counts as missing when it is not installed or when its probe
fails (a program, a file, a Perl or Python module it should provide).
As root, missing packages are installed with apt-get (after one
'apt-get update'), without recommends, and every probe is checked again
afterwards.  Otherwise, or with --check, the exact install line is
printed and the exit status is 1 when anything is missing.

--for TOOL   only what TOOL uses (a tool named in tools/deps.conf)
"""

import os
import subprocess
import sys

from .core import Failure, doc_parser, run
from .deps import missing_deps, read_deps


def not_installed(packages):
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Status}\\n"] + packages,
        text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    ok = {line.split()[0] for line in out.splitlines()
          if line.endswith("ok installed")}
    return [p for p in packages if p not in ok]


def main():
    ap = doc_parser(__doc__, prog="install-deps")
    ap.add_argument("--check", action="store_true",
                    help="only say what is missing")
    ap.add_argument("--for", dest="tool", metavar="TOOL")
    a = ap.parse_args()
    deps = read_deps()
    if a.tool:
        known = set().union(*(t for _, _, t in deps)) - {"all"}
        if a.tool not in known:
            raise Failure(f"--for {a.tool}: no tool of that name in"
                          " tools/deps.conf")
    wanted = sorted({p for p, _, tools in deps
                     if a.tool is None or a.tool in tools
                     or "all" in tools})
    missing = sorted(set(not_installed(wanted))
                     | {p for p, _ in missing_deps(a.tool)})
    if not missing:
        return 0
    line = ("apt-get install -y --no-install-recommends "
            + " ".join(missing))
    if a.check or os.geteuid() != 0:
        print("install-deps: missing packages; as root run:\n"
              f"  apt-get update && {line}", file=sys.stderr)
        return 1
    print(f"install-deps: installing {' '.join(missing)}", flush=True)
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], env=env)
    run(["apt-get", "install", "-q", "-y", "--no-install-recommends"]
        + missing, env=env)
    still = missing_deps(a.tool)
    if still:
        raise Failure("installed, but still missing: "
                      + ", ".join(f"{w} (from {p})" for p, w in still)
                      + "; tools/deps.conf names the wrong package")
    return 0
