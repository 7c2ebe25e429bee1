"""Paths, running commands, --help, and stopping with a clear message."""

import argparse
import os
import subprocess
import sys


# tools/vmff/ is two levels below the top of the repository
TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CACHE = os.environ.get("VMFF_CACHE", os.path.join(TOP, ".cache"))
BUILD = os.environ.get("VMFF_BUILD", os.path.join(TOP, "build"))
RESULTS = os.path.join(BUILD, "results")
DOC_RESULTS = os.path.join(TOP, "Documentation", "results")


class Failure(Exception):
    """A user-facing error: the message says what is wrong."""


# Where this tool's report goes as JSON (tools/test sets it).  Taken out of
# the environment at once, so that a tool this one runs cannot write it.
REPORT_PATH = os.environ.pop("VMFF_REPORT", None)


def die(msg, code=1):
    prog = os.path.basename(sys.argv[0])
    for line in str(msg).rstrip().splitlines():
        print(f"{prog}: {line}", file=sys.stderr)
    sys.exit(code)


def main_wrapper(fn):
    """Run a tool's main(), turning Failure into a message and exit 1."""
    try:
        sys.exit(fn() or 0)
    except Failure as e:
        die(e)
    except KeyboardInterrupt:
        die("interrupted", 130)


def run(cmd, cwd=None, env=None, check=True, capture=False, quiet=False):
    """Run a command; on failure raise Failure naming it."""
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    if not quiet and not capture:
        print("+ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, cwd=cwd, env=full_env, text=True,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None)
    if check and p.returncode != 0:
        detail = ""
        if capture:
            detail = "\n" + (p.stderr or p.stdout or "").strip()
        raise Failure(f"command failed ({p.returncode}): {' '.join(cmd)}{detail}")
    return p


def git(tree, *args, env=None, check=True):
    """Run git in TREE and return its stdout, stripped."""
    p = run(["git", "-C", tree] + list(args), env=env, check=check,
            capture=True)
    return p.stdout.strip() if p.returncode == 0 else None


def version_line(cmd):
    """The first line CMD --version prints, or None when it cannot run."""
    try:
        p = subprocess.run(cmd + ["--version"], text=True,
                           capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (p.stdout or p.stderr).strip().splitlines()
    return lines[0] if p.returncode == 0 and lines else None


def netns_prefix():
    """The command prefix that runs a command in a network namespace of
    its own, with no link up: 'unshare -n', or 'unshare -rn' when not
    root; a Failure when neither works."""
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        if subprocess.run(prefix + ["true"],
                          capture_output=True).returncode == 0:
            return prefix
    raise Failure("cannot make a network namespace (unshare -n or -rn);"
                  " refusing to run a mail program where it could send")


def doc_parser(doc, prog=None):
    """An ArgumentParser whose --help is the tool's docstring DOC: its
    'usage:' paragraph as the usage line (argparse's own would repeat
    it), its first paragraph before the options, the rest after them."""
    paras = doc.strip().split("\n\n")
    usage = next((p for p in paras if p.startswith("usage: ")), None)
    return argparse.ArgumentParser(
        prog=prog, usage=usage[len("usage: "):] if usage else None,
        description=paras[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(p for p in paras[1:] if p is not usage))
