"""Where a result was measured, and the pages of Documentation/results/
written from results, each with that record (provenance.json)."""

import hashlib
import json
import os
import re
import time

from .bases import base_commit
from .build import compiler
from .core import DOC_RESULTS, RESULTS, Failure, git, version_line


MANIFEST = os.path.join(DOC_RESULTS, "provenance.json")
# What a page must share with this run's results to be current: the
# commit measured (reproducible: apply-series fixes the committer and its
# date), its base and the kernel's options.  Compiler, QEMU and date are
# recorded for the reader, not compared: a newer gcc on the CI machine
# does not make a page stale, a changed patch does.
CURRENT_KEYS = ("head", "base", "dirty", "config")


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
