"""The kernel bases: tools/bases.conf, Debian's archive, and the one-commit
repositories made from its linux-source packages."""

import glob
import hashlib
import os
import re
import shutil
import sys

from .core import CACHE, TOP, Failure, git, run


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


def base_commit(tree):
    """The base commit under HEAD in TREE: the newest commit made by
    fetch-base's fixed identity, which need not be the root."""
    return git(tree, "log", "-1", "--format=%H",
               f"--committer={BASE_IDENT['GIT_COMMITTER_EMAIL']}", "HEAD",
               check=False) or None


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def private_apt(suite):
    """(directory, apt options) of an apt that knows SUITE alone, its
    lists updated: the machine's own apt configuration is left alone."""
    apt = os.path.join(CACHE, "apt", suite)
    for d in ("lists/partial", "cache/archives/partial", "dl"):
        os.makedirs(os.path.join(apt, d), exist_ok=True)
    src = os.path.join(apt, "sources.list")
    with open(src, "w") as f:
        f.write(f"deb [signed-by={KEYRING}] {archive_uri(suite)}"
                f" {suite} main\n")
    opts = ["-o", f"Dir::Etc::SourceList={src}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={apt}/lists",
            "-o", f"Dir::Cache={apt}/cache",
            "-o", "Debug::NoLocking=1",
            "-o", "APT::Sandbox::User=root"]
    run(["apt-get", "-q"] + opts + ["update"])
    return apt, opts


def deb_path(package, version):
    """Where a downloaded package is kept: .cache/debs/."""
    return os.path.join(CACHE, "debs", f"{package}_{version}_all.deb"
                        .replace(":", "%3a"))


def apt_download(apt, opts, spec):
    """apt-get download SPEC ('package=version') with the private apt of
    private_apt(), which checks it against the suite's signed index: the
    path of the .deb, or a Failure with apt's words."""
    dl = os.path.join(apt, "dl")
    for old in os.listdir(dl):
        os.unlink(os.path.join(dl, old))
    p = run(["apt-get", "-q"] + opts + ["download", spec], cwd=dl,
            check=False, capture=True)
    got = os.listdir(dl)
    if p.returncode != 0 or len(got) != 1:
        raise Failure(f"cannot download {spec}:\n"
                      f"{(p.stderr or p.stdout).strip()}")
    return os.path.join(dl, got[0])


def download(base):
    """Return the path of the verified .deb for BASE, downloading it once."""
    deb = deb_path(base["package"], base["version"])
    os.makedirs(os.path.dirname(deb), exist_ok=True)
    if os.path.exists(deb):
        if sha256(deb) == base["sha256"]:
            return deb
        print(f"fetch-base: {deb} does not match its pinned sha256;"
              " downloading again", file=sys.stderr)
        os.unlink(deb)

    apt, opts = private_apt(base["suite"])
    spec = f"{base['package']}={base['version']}"
    try:
        tmp = apt_download(apt, opts, spec)
    except Failure as e:
        raise Failure(
            f"{e} (from {base['suite']})\n"
            f"The pinned version may have left the archive: 'tools/repin"
            f" {base['name']}' lists what {base['suite']} has, and"
            f" 'tools/repin --write {base['name']}' pins its newest.  Or"
            f" place the package at\n  {deb}\n(sha256 {base['sha256']}).")
    digest = sha256(tmp)
    if digest != base["sha256"]:
        os.unlink(tmp)
        raise Failure(f"{spec}: sha256 {digest} does not match the pinned"
                      f" {base['sha256']}; download discarded")
    os.rename(tmp, deb)
    return deb


def drop_debian_ignore(tree):
    """Remove Debian's 'ignore everything at the top level' .gitignore rule.

    Debian's source tarball appends '/*' and '!/debian/' to the top-level
    .gitignore, which hides every new file a developer creates.  Upstream
    has no such rule; dropping it gives patches made on this base the same
    view upstream trees have.
    """
    path = os.path.join(tree, ".gitignore")
    with open(path) as f:
        lines = f.read().split("\n")
    if "/*" not in lines:
        return "Tarball committed unchanged."
    start = lines.index("/*")
    end = start + 1
    if end < len(lines) and lines[end] == "!/debian/":
        end += 1
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    if start > 0 and lines[start - 1] == "":
        start -= 1
    with open(path, "w") as f:
        f.write("\n".join(lines[:start] + lines[end:]))
    return ("Debian's rule ignoring everything at the top level is dropped"
            " from .gitignore,\nas upstream has none.")


def make_repo(base, deb):
    """Commit the package's tarball as a one-commit history in a bare
    repository, .cache/bases/NAME.git, tagged 'base'."""
    gitdir = os.path.join(CACHE, "bases", base["name"] + ".git")
    subject = (f"Linux {base['name'][1:]} (Debian {base['package']}"
               f" {base['version']})")
    had = git(gitdir, "rev-parse", "--verify", "-q", "base^{commit}",
              check=False)
    if had and git(gitdir, "log", "-1", "--format=%s", "base") == subject:
        return gitdir
    tmp = gitdir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tree = os.path.join(tmp, "tree")
    os.makedirs(tree)
    inner = "usr/src/{package}.tar.xz".format(**base)
    print(f"fetch-base: extracting {inner}", flush=True)
    run(["sh", "-c", 'dpkg-deb --fsys-tarfile "$1" | tar -xO "./$2" |'
         ' tar -xJ --strip-components=1 -C "$3"', "sh", deb, inner, tree],
        quiet=True)
    debian_note = drop_debian_ignore(tree)
    bare = os.path.join(tmp, "repo.git")
    env = dict(BASE_IDENT, GIT_DIR=bare, GIT_WORK_TREE=tree)
    run(["git", "init", "-q", "--bare", bare], quiet=True)
    run(["git", "add", "-A", "-f", "."], cwd=tree, env=env, quiet=True)
    msg = f"{subject}\n\n{debian_note}"
    run(["git", "commit", "-q", "--no-verify", "-m", msg], cwd=tree,
        env=env, quiet=True)
    run(["git", "tag", "base"], cwd=tree, env=env, quiet=True)
    shutil.rmtree(tree)
    if had:
        # Pinned again under the same name (tools/repin): the trees made
        # from the old pin borrow its objects (git clone --shared), so
        # the new base joins the same repository and the old one stays,
        # tagged by its commit.
        run(["git", "--git-dir", gitdir, "tag", "-f", f"was/{had[:12]}",
             had], quiet=True)
        run(["git", "--git-dir", gitdir, "fetch", "-q", bare,
             "+refs/tags/base:refs/tags/base"], quiet=True)
    else:
        os.rename(bare, gitdir)
    shutil.rmtree(tmp)
    return gitdir


def user_tree(name):
    """The LINUX_TREE override: the user's repository at LINUX_REV."""
    path = os.path.abspath(os.environ["LINUX_TREE"])
    gitdir = git(path, "rev-parse", "--absolute-git-dir", check=False)
    if not gitdir:
        raise Failure(f"LINUX_TREE={path} is not a git repository")
    rev = os.environ.get("LINUX_REV", name)
    commit = git(path, "rev-parse", "--verify", "-q", rev + "^{commit}",
                 check=False)
    if not commit:
        raise Failure(f"LINUX_TREE={path} has no commit '{rev}';"
                      " set LINUX_REV to the commit of base " + name)
    return gitdir, commit
