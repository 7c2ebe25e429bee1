"""Where a result was measured, and the pages of Documentation/results/
written from results, each with that record (provenance.json)."""

import hashlib
import json
import os
import re
import time

from .bases import base_commit
from .build import compiler
from .core import DOC_RESULTS, RESULTS, TOP, Failure, git, version_line


MANIFEST = os.path.join(DOC_RESULTS, "provenance.json")
# What a page must share with this run's results to be current: the
# source tree measured (the commit's tree id: its content, whatever the
# committer's git configuration put in the commit), its base, the
# kernel's options, and this repository's own inputs to the measurement
# (a guest's init, its test list).  Commit, compiler, QEMU and date are
# recorded for the reader, not compared: a newer gcc on the CI machine
# does not make a page stale, a changed patch does.
CURRENT_KEYS = ("tree", "base", "dirty", "config", "inputs")
# Options a .config has because of the toolchain, not because anyone
# chose them: its version and what it can do
TOOLCHAIN = re.compile(r"CONFIG_((CC|AS|LD|GCC|CLANG|RUSTC|PAHOLE|TOOLS)_\w*"
                       r"|\w*_VERSION(_TEXT)?)=")


def config_digest(path):
    """sha256 of a kernel .config's options, without its comments and
    the toolchain's version and capability probes (which the compiler
    line records): the same options give the same digest on any
    machine."""
    if not path or not os.path.isfile(path):
        return None
    keep = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and \
                    not TOOLCHAIN.match(line):
                keep.append(line)
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()


def inputs_digest(paths):
    """sha256 over the files at PATHS (directories walked, in order),
    names and contents; None for no paths."""
    if not paths:
        return None
    h = hashlib.sha256()
    files = []
    for path in paths:
        if os.path.isdir(path):
            for d, dirs, names in os.walk(path):
                dirs[:] = sorted(x for x in dirs if x != "__pycache__")
                files += [os.path.join(d, n) for n in sorted(names)]
        else:
            files.append(path)
    for path in files:
        h.update(os.path.relpath(path, TOP).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def provenance(tree, config=None, qemu=None, inputs=None, built=None):
    """What a result was measured on: the commit of TREE (or BUILT, what a
    kernel was built from: {"head", "dirty"}), its tree id and its base,
    whether the tree had changes, the digests of the kernel's CONFIG and
    of this repository's INPUTS, and the compiler, QEMU (a command) and
    date."""
    if built:
        head, dirty = built.get("head"), bool(built.get("dirty"))
    else:
        head = git(tree, "rev-parse", "HEAD", check=False)
        dirty = git(tree, "status", "--porcelain", "--untracked-files=no",
                    check=False) != ""
    return {"head": head,
            "tree": git(tree, "rev-parse", f"{head}^{{tree}}", check=False)
            if head else None,
            "base": base_commit(tree),
            "dirty": dirty,
            "config": config_digest(config),
            "inputs": inputs_digest(inputs),
            "compiler": version_line(compiler().split()[-1:]),
            "qemu": version_line(qemu) if qemu else None,
            "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def provenance_path(label):
    return os.path.join(RESULTS, label + ".provenance.json")


def record_provenance(label, tree, config=None, qemu=None, inputs=None,
                      built=None):
    """Record beside build/results/LABEL.* what it was measured on (see
    provenance())."""
    os.makedirs(RESULTS, exist_ok=True)
    with open(provenance_path(label), "w") as f:
        json.dump(provenance(tree, config, qemu, inputs, built), f,
                  indent=1, sort_keys=True)
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
            and e["sources"]
            and all(isinstance(p, dict) for p in e["sources"].values())
            and isinstance(e.get("sha256"), str)
            and isinstance(e.get("written_by"), str)
            for e in data.values()):
        raise Failure(f"{path}: not a page manifest; {how}")
    return data


def sources_provenance(sources):
    """{label: its provenance} for the result labels SOURCES; a Failure
    naming the first that has none, or for no sources at all.  A writer
    calls it for every page before it writes any."""
    if not sources:
        raise Failure("a page must be written from some result")
    provs = {}
    for label in sources:
        prov = read_provenance(label)
        if prov is None:
            raise Failure(f"{provenance_path(label)}: missing, so where"
                          f" {label} was measured is unknown; run the"
                          " test command (or the tool that measures it)"
                          " again")
        provs[label] = prov
    return provs


def publish(name, content, sources, command):
    """Write Documentation/results/NAME and record in provenance.json what
    it was written from: the provenance of each result label in SOURCES,
    as the run that measured it recorded it, and the COMMAND that wrote
    it.  Refuses results that carry no provenance."""
    provs = sources_provenance(sources)
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
