"""Check that every page in Documentation/results/ is what its writer made
from this run's results.

usage: tools/results-check [--complete] [--pages DIR]

Documentation/results/provenance.json names, for every page there, the
command that wrote it, the page's sha256, and the provenance of each
result it was written from (build/results/LABEL.provenance.json, recorded
by the tool that measured it: the commit and base of the kernel tree,
whether the tree had changes, a digest of the kernel's options, and the
compiler, QEMU and date).  Checked:

  listed   every file in Documentation/results/ but README.md and the
           manifest has an entry, and every entry a file;
  intact   each page's sha256 is the one its writer recorded: nobody
           edited it afterwards;
  current  each source the page was written from was measured on the
           same commit, base and kernel options as this run's result of
           the same label, in a tree without changes.

A source this run did not measure (no build/results/LABEL.provenance.json:
'tools/test --quick' boots no guest) is reported as skipped; with
--complete, for a run that measures everything, it is a failure.  The figures themselves
are not compared here: 'tools/kunit-table --check' does that for the
deterministic pages.  Prints TAP and ends with 'results-check: N passed,
N failed, N skipped'; exits 1 when anything failed.  --pages checks the
pages and provenance.json in DIR instead of Documentation/results/.
"""

import hashlib
import os

from .core import DOC_RESULTS, TOP, Failure, doc_parser
from .provenance import (CURRENT_KEYS, MANIFEST, provenance_path, read_manifest, read_provenance)
from .report import Report

# Files here that no tool writes
UNMANAGED = {"README.md", os.path.basename(MANIFEST)}


def short(value):
    return value[:12] if isinstance(value, str) else str(value)


def check_current(entry, complete):
    """(status, detail) of PAGE's sources against this run's."""
    stale, unmeasured = [], []
    for label, recorded in sorted(entry["sources"].items()):
        now = read_provenance(label)
        if now is None:
            unmeasured.append(label)
            continue
        if now.get("dirty"):
            stale.append(f"{label}: this run measured a tree with"
                         " uncommitted changes")
            continue
        for key in CURRENT_KEYS:
            if recorded.get(key) != now.get(key):
                stale.append(f"{label}: {key} {short(recorded.get(key))},"
                             f" this run {short(now.get(key))}")
                break
    missing = unmeasured if complete else []
    if stale or missing:
        return "fail", "; ".join(
            stale + [f"{l}: not measured by this run"
                     f" ({os.path.relpath(provenance_path(l), TOP)})"
                     for l in missing]) + \
            f"; write it again with {entry['written_by']}"
    if unmeasured:
        return "skip", "not measured by this run: " + ", ".join(unmeasured)
    return "pass", ", ".join(sorted(entry["sources"]))


def main():
    ap = doc_parser(__doc__)
    ap.add_argument("--complete", action="store_true",
                    help="every source must have been measured by this run")
    ap.add_argument("--pages", default=DOC_RESULTS, metavar="DIR",
                    help="the pages to check (default: %(default)s)")
    a = ap.parse_args()
    if not os.path.isdir(a.pages):
        raise Failure(f"--pages {a.pages}: no such directory")
    manifest_path = os.path.join(a.pages, os.path.basename(MANIFEST))
    manifest = read_manifest(manifest_path)
    files = sorted(f for f in os.listdir(a.pages)
                   if f not in UNMANAGED and not f.startswith(".")
                   and os.path.isfile(os.path.join(a.pages, f)))
    results = []
    for name in files:
        entry = manifest.get(name)
        if entry is None:
            results.append(("fail", f"{name}: listed", "no entry in"
                            f" {os.path.relpath(manifest_path, TOP)}; write it"
                            " with the tool that makes it"))
            continue
        with open(os.path.join(a.pages, name), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != entry["sha256"]:
            results.append(("fail", f"{name}: intact", "changed since "
                            f"{entry['written_by']} wrote it; run that"
                            " again instead of editing the page"))
        else:
            results.append(("pass", f"{name}: intact", entry["written_by"]))
        status, detail = check_current(entry, a.complete)
        results.append((status, f"{name}: current", detail))
    for name in sorted(set(manifest) - set(files)):
        results.append(("fail", f"{name}: listed", "in the manifest but"
                        f" not in {os.path.relpath(a.pages, TOP)}"))

    report = Report("results-check")
    for status, name, detail in results:
        report.add(name, status, detail)
    return report.close()
