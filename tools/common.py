"""Shared helpers for the tools in this directory.

Only what more than one tool needs lives here: paths, running commands,
reading bases.conf and series files, finding the Debian archive, and
stopping with a clear message.
"""

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("VMFF_CACHE", os.path.join(TOP, ".cache"))
BUILD = os.environ.get("VMFF_BUILD", os.path.join(TOP, "build"))
RESULTS = os.path.join(BUILD, "results")
DOC_RESULTS = os.path.join(TOP, "Documentation", "results")
MANIFEST = os.path.join(DOC_RESULTS, "provenance.json")

# The identity and date of a base commit made from a tarball are fixed, so
# the same tarball always gives the same base commit id; exported patches
# name it in their base-commit: line.
BASE_IDENT = {
    "GIT_AUTHOR_NAME": "Debian linux-source",
    "GIT_AUTHOR_EMAIL": "linux-source@debian.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "Debian linux-source",
    "GIT_COMMITTER_EMAIL": "linux-source@debian.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+0000",
}


class Failure(Exception):
    """A user-facing error: the message says what is wrong."""


# Where this tool's report goes as JSON (tools/test sets it).  Taken out of
# the environment at once, so that a tool this one runs cannot write it.
REPORT_PATH = os.environ.pop("VMFF_REPORT", None)


class Report:
    """What a tool checked: each check a TAP line as it is made, then at
    the end the plan and the closing line 'PROG: N passed, N failed[, N
    skipped]', the last line of every tool that checks something.  With
    VMFF_REPORT=FILE in the environment the same goes to FILE as JSON,
    {"tool", "passed", "failed", "skipped", "cases": [{"name", "status",
    "detail"}], and whatever else the tool adds}, which tools/test reads
    instead of the text."""

    def __init__(self, prog, title=None, show_passes=True):
        self.prog = prog
        self.cases = []
        self.extra = {}
        # A tool whose own output lists every case prints only the rest
        self.show_passes = show_passes
        print("TAP version 13", flush=True)
        if title:
            print(f"# {title}", flush=True)

    def add(self, name, status, detail=""):
        """Record a check of STATUS pass, fail or skip, and print it."""
        if status not in ("pass", "fail", "skip"):
            raise ValueError(f"status {status!r}")
        detail = str(detail or "")
        self.cases.append({"name": name, "status": status,
                           "detail": detail})
        n = len(self.cases)
        if status == "pass" and not self.show_passes:
            return True
        first, _, rest = detail.partition("\n")
        if status == "skip":
            line = f"ok {n} {name} # SKIP {first or 'skipped'}"
        else:
            line = f"{'ok' if status == 'pass' else 'not ok'} {n} {name}"
            if first:
                line += f" # {first}"
        print(line, flush=True)
        for text in rest.rstrip().splitlines()[-25:]:
            print(f"#   {text}")
        return status != "fail"

    def check(self, name, ok, detail=""):
        """A check that passed if OK; returns OK."""
        return self.add(name, "pass" if ok else "fail", detail)

    def count(self, status):
        return sum(c["status"] == status for c in self.cases)

    @property
    def failed(self):
        return self.count("fail")

    @property
    def passed(self):
        return self.count("pass")

    def close(self):
        """Print the plan and closing line, write the JSON; the exit
        status: 1 when a check failed."""
        passed, failed, skipped = (self.count(s)
                                   for s in ("pass", "fail", "skip"))
        print(f"1..{len(self.cases)}")
        print(f"{self.prog}: {passed} passed, {failed} failed"
              + (f", {skipped} skipped" if skipped else ""), flush=True)
        if REPORT_PATH:
            data = dict(self.extra, tool=self.prog, passed=passed,
                        failed=failed, skipped=skipped, cases=self.cases)
            with open(REPORT_PATH, "w") as f:
                json.dump(data, f, indent=1)
        return 1 if failed else 0


KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def system_sources():
    """(uri, suite) pairs from the machine's apt configuration."""
    pairs = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            for stanza in f.read().split("\n\n"):
                fields = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.split()
                if "deb" not in fields.get("types", []):
                    continue
                for uri in fields.get("uris", []):
                    for suite in fields.get("suites", []):
                        pairs.append((uri, suite))
    lists = ["/etc/apt/sources.list"] + sorted(
        glob.glob("/etc/apt/sources.list.d/*.list"))
    for path in lists:
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            for line in f:
                line = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0])
                w = line.split()
                if len(w) >= 3 and w[0] == "deb":
                    pairs.append((w[1], w[2]))
    return pairs


def archive_uri(suite):
    """The archive URI to fetch SUITE from, taken from the system's sources.

    A suite listed there uses its own URI.  Otherwise the security suites
    come from the URI serving another -security suite, everything else from
    the one serving the main archive (a suite without a '-' in its name).
    """
    pairs = system_sources()
    for uri, s in pairs:
        if s == suite:
            return uri
    security = suite.endswith("-security")
    for uri, s in pairs:
        if security == s.endswith("-security") and (security or "-" not in s):
            return uri
    raise Failure(f"no Debian archive URI in /etc/apt to fetch '{suite}' from;"
                  " add the main archive to the apt sources")


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


def read_bases():
    """bases.conf as {name: dict(package, version, suite, sha256)}."""
    bases = {}
    path = os.environ.get("VMFF_BASES", os.path.join(TOP, "tools",
                                                     "bases.conf"))
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 5:
                raise Failure(f"{path}:{n}: {len(fields)} fields; want NAME"
                              " PACKAGE VERSION SUITE SHA256")
            name, package, version, suite, sha = fields
            if not re.fullmatch(r"[0-9a-f]{64}", sha):
                raise Failure(f"{path}:{n}: {sha!r} is not a sha256 (64"
                              " lower-case hex digits)")
            if name in bases:
                raise Failure(f"{path}:{n}: base {name} is pinned twice")
            bases[name] = dict(name=name, package=package, version=version,
                               suite=suite, sha256=sha)
    return bases


def stacks():
    """Every stack directory: the top level, then stable/* in order."""
    out = [TOP]
    sdir = os.path.join(TOP, "stable")
    if os.path.isdir(sdir):
        for d in sorted(os.listdir(sdir)):
            if os.path.isfile(os.path.join(sdir, d, "series")):
                out.append(os.path.join(sdir, d))
    return out


def stack_name(stack):
    """'main' for the top level, else the stable directory name."""
    stack = os.path.abspath(stack)
    return "main" if stack == TOP else os.path.basename(stack)


def patch_author(path):
    """The From: identity of an exported patch, "Name <address>"."""
    with open(path) as f:
        for line in f:
            if line.startswith("From: "):
                return line[6:].strip()
    raise Failure(f"{path}: no From: line")


def read_series(stack):
    """Return (base name, [patch paths]) for the stack in directory STACK.

    The base is named on a '# base: NAME' line at the top of 'series'; every
    other non-comment line names a file in the stack's patches/.
    """
    path = os.path.join(stack, "series")
    if not os.path.isfile(path):
        raise Failure(f"{path}: no series file")
    base, patches = None, []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if s.startswith("#"):
                key, _, val = s[1:].partition(":")
                if key.strip() == "base" and val.strip():
                    base = val.split()[0]
                continue
            if not s:
                continue
            p = os.path.join(stack, "patches", s.split()[0])
            if not os.path.isfile(p):
                raise Failure(f"{path}:{n}: names {s.split()[0]}, "
                              f"which is not in {os.path.dirname(p)}/")
            patches.append(p)
    if base is None:
        raise Failure(f"{path}: no '# base: NAME' line at the top")
    if base not in read_bases():
        raise Failure(f"{path}: base {base} is not in tools/bases.conf")
    return base, patches


def series_header(stack):
    """The comment lines at the top of STACK's series, and their keys.

    Returns (lines, {key: value}) for the '# key: value' lines.
    """
    lines, keys = [], {}
    with open(os.path.join(stack, "series")) as f:
        for line in f:
            if not line.startswith("#"):
                break
            lines.append(line)
            k, sep, v = line[1:].partition(":")
            if sep:
                keys[k.strip()] = v.strip()
    return lines, keys


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


def compiler_env(env=None):
    """The environment every kernel build here runs in.  ccache keeps its
    cache in .cache/ccache; paths below the project are made relative to
    the build directory (base_dir) and the build directory is left out
    of the hash (hash_dir), so that the same source built at the same
    place relative to its build directory hits in any clone."""
    env = dict(os.environ if env is None else env)
    env["CCACHE_DIR"] = os.path.join(CACHE, "ccache")
    base = os.path.commonpath([TOP, BUILD, CACHE])
    # ccache's manual warns against base_dir = / (VMFF_BUILD or
    # VMFF_CACHE far from the clone): leave the paths absolute then.
    if base != os.path.sep:
        env["CCACHE_BASEDIR"] = base
        env["CCACHE_NOHASHDIR"] = "1"
    return env


def compiler(cc="gcc"):
    """CC for make: CC behind ccache when ccache is there."""
    return f"ccache {cc}" if shutil.which("ccache") else cc


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


def base_of(stack):
    """(base name, base git dir, base commit) for STACK, fetching it."""
    name, _ = read_series(stack)
    p = run([os.path.join(TOP, "tools", "fetch-base"), name], capture=True)
    gitdir, commit = p.stdout.strip().splitlines()[-1].split()
    return name, gitdir, commit


def default_tree(stack):
    """Where a stack's kernel tree lives: work/<stack>/linux."""
    return os.path.join(TOP, "work", stack_name(stack), "linux")


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


def sparse_am(tree, wt, base, patches, env=None):
    """git am of the mbox files PATCHES on BASE in a new worktree WT of
    TREE, with only the directories they touch checked out (a sparse
    cone; the top-level files come with it): git am needs no more, the
    commits' trees are whole all the same, and writing the other 80,000
    files of a kernel tree cost 40 s.  Returns the CompletedProcess of
    the first step that failed, or of git am."""
    dirs = set()
    for path in patches:
        with open(path, errors="replace") as f:
            dirs.update(os.path.dirname(d) for d in
                        re.findall(r"(?m)^diff --git a/(\S+) ", f.read()))
    dirs.discard("")
    full_env = dict(os.environ, **(env or {}))
    for cmd in (["git", "-C", tree, "worktree", "add", "-q", "--no-checkout",
                 "--detach", wt, base],
                ["git", "-C", wt, "sparse-checkout", "set", "--cone"]
                + sorted(dirs),
                ["git", "-C", wt, "checkout", "-q"],
                ["git", "-C", wt, "am", "-q"] + list(patches)):
        p = subprocess.run(cmd, text=True, capture_output=True,
                           env=full_env)
        if p.returncode:
            break
    return p


# What a page must share with this run's results to be current: the
# commit measured (reproducible: apply-series fixes the committer and its
# date), its base and the kernel's options.  Compiler, QEMU and date are
# recorded for the reader, not compared: a newer gcc on the CI machine
# does not make a page stale, a changed patch does.
CURRENT_KEYS = ("head", "base", "dirty", "config")


def version_line(cmd):
    """The first line CMD --version prints, or None when it cannot run."""
    try:
        p = subprocess.run(cmd + ["--version"], text=True,
                           capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (p.stdout or p.stderr).strip().splitlines()
    return lines[0] if p.returncode == 0 and lines else None


def config_digest(path):
    """sha256 of a kernel .config's options, without its comments and the
    toolchain's version probes (CONFIG_*VERSION*), which the compiler line
    records: the same options give the same digest on any machine."""
    if not path or not os.path.isfile(path):
        return None
    keep = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and \
                    not re.match(r"CONFIG_\w*VERSION\w*=", line):
                keep.append(line)
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()


def base_commit(tree):
    """The base commit under HEAD in TREE: the newest commit made by
    fetch-base's fixed identity, which need not be the root."""
    return git(tree, "log", "-1", "--format=%H",
               f"--committer={BASE_IDENT['GIT_COMMITTER_EMAIL']}", "HEAD",
               check=False) or None


def provenance(tree, config=None, qemu=None):
    """What a result was measured on: the commit of TREE and its base,
    whether the tree had changes, the digest of the kernel's CONFIG, and
    the compiler, QEMU (a command) and date."""
    dirty = git(tree, "status", "--porcelain", "--untracked-files=no",
                check=False)
    return {"head": git(tree, "rev-parse", "HEAD", check=False),
            "base": base_commit(tree),
            "dirty": dirty != "",
            "config": config_digest(config),
            "compiler": version_line(compiler().split()[-1:]),
            "qemu": version_line(qemu) if qemu else None,
            "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def provenance_path(label):
    return os.path.join(RESULTS, label + ".provenance.json")


def record_provenance(label, tree, config=None, qemu=None):
    """Record beside build/results/LABEL.* what it was measured on."""
    os.makedirs(RESULTS, exist_ok=True)
    with open(provenance_path(label), "w") as f:
        json.dump(provenance(tree, config, qemu), f, indent=1,
                  sort_keys=True)
        f.write("\n")


def read_json(path, what):
    """PATH as JSON, or a Failure that says which file is garbled."""
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        raise Failure(f"{path}: not valid JSON ({e}); {what}")


def read_provenance(label):
    """build/results/LABEL.provenance.json, or None when this run has
    none."""
    path = provenance_path(label)
    if not os.path.exists(path):
        return None
    prov = read_json(path, "run the command that measured it again")
    if not isinstance(prov, dict) or \
            any(k not in prov for k in CURRENT_KEYS):
        raise Failure(f"{path}: not a provenance record (want the keys"
                      f" {', '.join(CURRENT_KEYS)})")
    return prov


def read_manifest(path=MANIFEST):
    """Documentation/results/provenance.json (or PATH) as {page: entry}."""
    if not os.path.exists(path):
        return {}
    how = "restore it with git checkout and write the pages again"
    data = read_json(path, how)
    if not isinstance(data, dict) or not all(
            isinstance(e, dict) and isinstance(e.get("sources"), dict)
            and isinstance(e.get("sha256"), str)
            and isinstance(e.get("written_by"), str)
            for e in data.values()):
        raise Failure(f"{path}: not a page manifest; {how}")
    return data


def publish(name, content, sources, command):
    """Write Documentation/results/NAME and record in provenance.json what
    it was written from: the provenance of each result label in SOURCES,
    as the run that measured it recorded it, and the COMMAND that wrote
    it.  Refuses results that carry no provenance."""
    provs = {}
    for label in sources:
        prov = read_provenance(label)
        if prov is None:
            raise Failure(f"{provenance_path(label)}: missing, so where"
                          f" {label} was measured is unknown; run the"
                          " test command (or the tool that measures it)"
                          " again")
        provs[label] = prov
    data = content.encode() if isinstance(content, str) else content
    manifest = read_manifest()
    os.makedirs(DOC_RESULTS, exist_ok=True)
    with open(os.path.join(DOC_RESULTS, name), "wb") as f:
        f.write(data)
    manifest[name] = {"written_by": command,
                      "sha256": hashlib.sha256(data).hexdigest(),
                      "sources": provs}
    tmp = MANIFEST + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, MANIFEST)
