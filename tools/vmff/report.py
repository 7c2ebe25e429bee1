"""One reporter for every tool that checks something."""

import json

from .core import REPORT_PATH


class Report:
    """What a tool checked: each check a TAP line as it is made, then at
    the end the plan and the closing line 'PROG: N passed, N failed, N
    skipped', the last line of every tool that checks something.  With
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
        print(f"{self.prog}: {passed} passed, {failed} failed,"
              f" {skipped} skipped", flush=True)
        if REPORT_PATH:
            data = dict(self.extra, tool=self.prog, passed=passed,
                        failed=failed, skipped=skipped, cases=self.cases)
            with open(REPORT_PATH, "w") as f:
                json.dump(data, f, indent=1)
        return 1 if failed else 0
