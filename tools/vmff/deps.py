"""What the tools need (tools/deps.conf), and stopping early when it is
missing, naming the Debian package."""

import os
import shutil
import subprocess

from .core import TOP, Failure


DEPS = os.path.join(TOP, "tools", "deps.conf")
# Debian's python3-* and lib*-perl packages are for Debian's interpreters
# (git send-email runs /usr/bin/perl); a python3 or perl found first on
# PATH (pyenv, perlbrew, a virtualenv) does not see them.
DEBIAN_PYTHON = "/usr/bin/python3"
DEBIAN_PERL = "/usr/bin/perl"


def debian_path_env():
    """The environment with /usr/bin first on PATH, for the kernel's own
    Python scripts (checkpatch's spdxcheck.py, kernel-doc) to run on
    Debian's python3 and find the modules deps.conf installs."""
    return dict(os.environ, PATH="/usr/bin:" + os.environ.get("PATH", ""))


def read_deps():
    """tools/deps.conf as [(package, probe, {tool names})]."""
    deps = []
    with open(DEPS) as f:
        for n, line in enumerate(f, 1):
            w = line.split("#", 1)[0].split()
            if not w:
                continue
            if len(w) != 3 or ":" not in w[1]:
                raise Failure(f"{DEPS}:{n}: want PACKAGE KIND:WHAT TOOLS")
            deps.append((w[0], w[1], set(w[2].split(","))))
    return deps


def probe(what):
    """Whether a deps.conf probe (cmd:, file:, perl:, python:) holds."""
    kind, _, name = what.partition(":")
    if kind == "cmd":
        return shutil.which(name) is not None
    if kind == "file":
        return os.path.exists(name)
    if kind == "perl":
        cmd = [DEBIAN_PERL, f"-M{name}", "-e", "1"]
    elif kind == "python":
        cmd = [DEBIAN_PYTHON, "-c", f"import {name}"]
    else:
        raise Failure(f"{DEPS}: unknown probe kind in '{what}'")
    try:
        return subprocess.run(cmd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def missing_deps(tool=None):
    """[(package, probe)] that fail, for TOOL or, with None, for all."""
    return [(pkg, what) for pkg, what, tools in read_deps()
            if (tool is None or tool in tools or "all" in tools)
            and not probe(what)]


def need_deps(tool):
    """Stop with the install line unless everything TOOL uses is there.

    Called by each tool before anything long, so that a fresh machine
    fails in the first seconds, naming the Debian package.
    """
    missing = missing_deps(tool)
    if not missing:
        return
    kinds = {"cmd": "program", "file": "file", "perl": "Perl module",
             "python": "Python module"}
    what = ", ".join(f"{kinds.get(w.partition(':')[0], 'item')}"
                     f" {w.partition(':')[2]} ({p})" for p, w in missing)
    pkgs = " ".join(sorted({p for p, _ in missing}))
    raise Failure(f"{tool} needs {what}; install with tools/install-deps,"
                  f" or as root:\n  apt-get update && apt-get install -y"
                  f" --no-install-recommends {pkgs}")
