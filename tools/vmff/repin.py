"""Show what Debian has of each pinned base, and pin a newer one.

usage: tools/repin [NAME]...
       tools/repin --write NAME [--version VERSION]

tools/bases.conf pins each base to one version of a Debian linux-source
package in one suite.  Suites move on: a security suite keeps only a few
versions, and a pinned version that has left the archive cannot be
fetched on a new machine (tools/fetch-base then says so and names this
tool).

Without --write, for each NAME (default: every base) this updates a
private apt that knows the base's suite alone and prints the versions of
the package the suite has, marking the pinned one and whether it is still
there and the newest.  Exits 1 when a pinned version is gone.

--write NAME pins VERSION (default: the suite's newest) of the same
package: apt downloads it (verified against the suite's signed index),
its sha256 is computed, and the base's line in bases.conf is rewritten.
When the upstream release changes (6.1.192-3 keeps v6.1.192, 6.1.193-1
makes it v6.1.193), the base is renamed, and so is the '# base:' line of
every stack's series that names it.  Nothing else changes: then run
'tools/test' (or 'tools/apply-series --stack DIR') to see whether the
stack still applies, and 'tools/export-series' for the new base-commit:
lines.  A version the suite does not have is refused and nothing is
written.
"""

import os
import re
import subprocess
import sys

from .bases import (apt_download, deb_path, private_apt, read_bases,
                        sha256)
from .core import TOP, Failure, run
from .deps import need_deps
from .stacks import stacks

DEFAULT_BASES = os.path.join(TOP, "tools", "bases.conf")
BASES = os.environ.get("VMFF_BASES", DEFAULT_BASES)


def available(base):
    """(apt options, [versions of the base's package], newest first)."""
    apt, opts = private_apt(base["suite"])
    # apt-cache madison exits 0 listing nothing for a package the suite
    # lacks; anything else is apt failing, not the package gone
    p = run(["apt-cache"] + opts + ["madison", base["package"]],
            capture=True)
    versions = []
    for line in p.stdout.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 2 and fields[0] == base["package"]:
            versions.append(fields[1])
    return apt, opts, sort_versions(set(versions))


def sort_versions(versions):
    """Debian versions, newest first, as dpkg orders them."""
    def newer(a, b):
        return subprocess.run(["dpkg", "--compare-versions", a, "gt", b]
                              ).returncode == 0
    out = []
    for v in versions:
        i = 0
        while i < len(out) and newer(out[i], v):
            i += 1
        out.insert(i, v)
    return out


def upstream_name(version):
    """The base's name for a package VERSION: v and the upstream release."""
    m = re.match(r"^(?:\d+:)?(\d+(?:\.\d+)+)", version)
    if not m:
        raise Failure(f"{version}: not a kernel package version")
    return "v" + m.group(1)


def show(base):
    _, _, versions = available(base)
    print(f"{base['name']}: {base['package']} in {base['suite']}:")
    for v in versions:
        mark = " (pinned)" if v == base["version"] else ""
        print(f"  {v}{mark}")
    if not versions:
        print(f"  {base['suite']} has no {base['package']} at all: pin"
              " another suite in tools/bases.conf")
        return False
    if base["version"] not in versions:
        print(f"  pinned {base['version']} is gone: 'tools/repin --write"
              f" {base['name']}' pins {versions[0]}")
        return False
    if versions and versions[0] != base["version"]:
        print(f"  pinned {base['version']} is still there; the newest is"
              f" {versions[0]}")
    else:
        print(f"  pinned {base['version']} is the newest")
    return True


def write(base, version):
    apt, opts, versions = available(base)
    if not versions:
        raise Failure(f"{base['suite']} has no {base['package']} at all;"
                      " pin another suite by editing bases.conf")
    version = version or versions[0]
    if version not in versions:
        raise Failure(f"{base['package']} {version} is not in"
                      f" {base['suite']}; it has: {' '.join(versions)}")
    name = upstream_name(version)
    bases = read_bases()
    if name != base["name"] and name in bases:
        raise Failure(f"{name} is pinned already; nothing written")
    got = apt_download(apt, opts, f"{base['package']}={version}")
    digest = sha256(got)
    # fetch-base's cache name, so that it need not download it again
    deb = deb_path(base["package"], version)
    os.makedirs(os.path.dirname(deb), exist_ok=True)
    os.replace(got, deb)

    with open(BASES) as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        fields = line.split("#", 1)[0].split()
        if fields and fields[0] == base["name"]:
            lines[i] = (f"{name:<12} {base['package']:<18} {version:<22}"
                        f" {base['suite']:<19} {digest}")
    with open(BASES, "w") as f:
        f.write("\n".join(lines))
    print(f"repin: {base['name']} -> {name}: {base['package']} {version},"
          f" sha256 {digest}")
    if name != base["name"] and BASES != DEFAULT_BASES:
        print(f"repin: VMFF_BASES={BASES}: the stacks' series are left"
              " alone (they name the repository's own bases)")
    elif name != base["name"]:
        for stack in stacks():
            path = os.path.join(stack, "series")
            with open(path) as f:
                text = f.read()
            new = re.sub(rf"(?m)^(#\s*base:\s*){re.escape(base['name'])}\b",
                         rf"\g<1>{name}", text)
            if new != text:
                with open(path, "w") as f:
                    f.write(new)
                print(f"repin: {os.path.relpath(path, TOP)}: base {name}")
    print("repin: now 'tools/test' to see whether the stacks still apply,"
          " then 'tools/export-series' for their base-commit: lines")


def main():
    args = sys.argv[1:]
    if any(a in ("-h", "--help") for a in args):
        print(__doc__.strip())
        return 0
    write_mode, version, names = False, None, []
    while args:
        a = args.pop(0)
        if a == "--write":
            write_mode = True
        elif a == "--version":
            if not args or args[0].startswith("-"):
                raise Failure("--version wants a VERSION; see --help")
            version = args.pop(0)
        elif a.startswith("-"):
            raise Failure(f"unknown option {a}; see --help")
        else:
            names.append(a)
    bases = read_bases()
    unknown = [n for n in names if n not in bases]
    if unknown:
        raise Failure(f"unknown base {' '.join(unknown)}; known:"
                      f" {', '.join(bases)}")
    if write_mode and len(names) != 1:
        raise Failure("--write pins one base: give its NAME; see --help")
    if version and not write_mode:
        raise Failure("--version goes with --write; see --help")
    need_deps("fetch-base")
    if write_mode:
        write(bases[names[0]], version)
        return 0
    ok = [show(bases[n]) for n in names or list(bases)]
    return 0 if all(ok) else 1
