"""QEMU's machine protocol (QMP) over a unix socket: commands, replies and
events as JSON, so that a tool waits for what QEMU says happened instead
of reading the human monitor's screen after a sleep."""

import json
import socket
import time

from .core import Failure


class QMP:
    """One QMP connection: execute() a command, wait_event() for an event,
    run_job() for a command QEMU runs as a job (snapshot-save, -load)."""

    def __init__(self, path, timeout=30, log=None):
        self.log = log
        self.events = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise Failure(f"QMP: no monitor at {path} after"
                                  f" {timeout} s")
                time.sleep(0.1)
        self.reader = self.sock.makefile("rb")
        try:
            greeting = self._read(deadline)
            if "QMP" not in greeting:
                raise Failure(f"QMP: not a QMP greeting: {greeting}")
            self.execute("qmp_capabilities")
        except Failure:
            self.close()
            raise

    def _read(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure("QMP: QEMU did not answer in time")
        self.sock.settimeout(left)
        try:
            line = self.reader.readline()
        except socket.timeout:
            raise Failure("QMP: QEMU did not answer in time")
        except OSError as e:
            raise Failure(f"QMP: the monitor went away ({e})")
        if not line:
            raise Failure("QMP: QEMU closed the monitor")
        try:
            msg = json.loads(line)
        except ValueError:
            raise Failure(f"QMP: not JSON: {line[:200]!r}")
        if self.log:
            self.log.write(f"# qmp <- {line.decode(errors='replace').strip()}"
                           "\n")
        return msg

    def execute(self, command, timeout=60, **arguments):
        """Run COMMAND; its 'return', or a Failure with QEMU's error."""
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        text = json.dumps(msg)
        if self.log:
            self.log.write(f"# qmp -> {text}\n")
        try:
            self.sock.sendall(text.encode() + b"\n")
        except OSError as e:
            raise Failure(f"QMP {command}: the monitor went away ({e})")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if "event" in reply:
                self.events.append(reply)
            elif "error" in reply:
                raise Failure(f"QMP {command}:"
                              f" {reply['error'].get('desc', reply)}")
            elif "return" in reply:
                return reply["return"]

    def wait_event(self, name, timeout=60, match=lambda data: True):
        """The data of the first event NAME (since the last wait) whose
        data MATCH accepts; a Failure after TIMEOUT seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("event") == name and match(ev.get("data", {})):
                    del self.events[:i + 1]
                    return ev.get("data", {})
            self.events.append(self._read(deadline))

    def run_job(self, command, job_id, timeout=120, **arguments):
        """Run a job command and wait until it has concluded; a Failure
        with the job's error if it failed."""
        self.execute(command, **{"job-id": job_id}, **arguments)
        self.wait_event("JOB_STATUS_CHANGE", timeout,
                        lambda d: d.get("id") == job_id
                        and d.get("status") == "concluded")
        jobs = [j for j in self.execute("query-jobs") if j["id"] == job_id]
        self.execute("job-dismiss", id=job_id)
        if jobs and jobs[0].get("error"):
            raise Failure(f"QMP {command}: {jobs[0]['error']}")

    def close(self):
        self.reader.close()
        self.sock.close()
