"""Send the series to a local list archive and take it back as a reviewer.

usage: tools/list-round-trip [--stack DIR] [--tree DIR] --from 'NAME <ADDR>'
                             [--keep]

What happens between 'git send-email' and a reviewer's 'b4 am', on
loopback only.  In a network namespace of its own with nothing but lo
(unshare -n, or -rn when not root), this tool
  - makes a public-inbox (v2) for the list the mails are addressed to,
    linux-kernel@vger.kernel.org, and an SMTP listener on 127.0.0.1 that
    delivers what that address receives with public-inbox-mda, as the
    list's mail server does;
  - sends the stack's patches with tools/send-dry-run --smtp-port, which
    addresses them with get_maintainer.pl of TREE and sends as --from;
  - serves the archive with public-inbox-httpd, as lore does, and fetches
    the thread by the cover letter's Message-ID with 'b4 am' (its
    midmask pointed at the local archive), then applies b4's mbox with
    'git am' on the base in a scratch worktree of TREE.

It checks what a list reader sees: every message arrived and is in the
archive, in one thread under the cover letter; each was addressed to
the To: and Cc: that get_maintainer.pl chose, envelope and headers
alike; the subjects carry the v2 prefix and numbering and read as in
patches/; From: and the last Signed-off-by: are the sender; every body
arrives byte for byte as in patches/ but for the sender; and the tree b4 and git am give equals the tree of TREE's branch
'series', but for the sender on the M: line of the MAINTAINERS entry
the series adds, where the patches have the project's placeholder.  Prints 'ok' or 'FAIL' per check and ends with
'list-round-trip: N passed, N failed'.
"""

import asyncio
import email
import email.header
import email.policy
import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from .core import REPORT_PATH, TOP, Failure, doc_parser, netns_prefix
from .deps import need_deps
from .report import Report
from .stacks import default_tree, patch_author, read_series, sparse_am

T = os.path.join(TOP, "tools")
LIST = "linux-kernel@vger.kernel.org"
INBOX = "lkml"
IN_NAMESPACE = "VMFF_LIST_NAMESPACE"


class Listener:
    """A minimal SMTP server (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA,
    RSET, NOOP, QUIT) on 127.0.0.1.  Each message is kept with its
    envelope and, when LIST is among its recipients, handed to DELIVER."""

    def __init__(self, deliver):
        self.deliver = deliver
        self.messages = []      # (mail from, [rcpt to], raw bytes, status)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,),
                         daemon=True).start()
        ready.wait(10)

    def _serve(self, ready):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self.session, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def session(self, reader, writer):
        def say(text):
            writer.write(text.encode() + b"\r\n")
        say("220 localhost ESMTP vmclock-ff test list")
        sender, rcpts = None, []
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd = line.decode("ascii", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                say("250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8")
            elif verb == "HELO":
                say("250 localhost")
            elif cmd.upper().startswith(("MAIL FROM:", "RCPT TO:")):
                path = cmd.split(":", 1)[1].split()
                if not path:
                    say("501 no address")
                elif cmd.upper().startswith("MAIL"):
                    sender, rcpts = path[0].strip("<>"), []
                    say("250 OK")
                else:
                    rcpts.append(path[0].strip("<>"))
                    say("250 OK")
            elif verb == "DATA":
                say("354 end with <CRLF>.<CRLF>")
                await writer.drain()
                lines = []
                while True:
                    raw = await reader.readline()
                    if raw in (b".\r\n", b".\n"):
                        break
                    if not raw:
                        # Cut off in the middle: nothing is delivered
                        writer.close()
                        return
                    # Dot-stuffing (RFC 5321 4.5.2)
                    lines.append(raw[1:] if raw.startswith(b".") else raw)
                data = b"".join(l.rstrip(b"\r\n") + b"\n" for l in lines)
                status = self.deliver(rcpts, data) if LIST in rcpts else 0
                self.messages.append((sender, rcpts, data, status))
                say("250 OK" if status == 0 else "451 delivery failed")
                sender, rcpts = None, []
            elif verb == "RSET":
                sender, rcpts = None, []
                say("250 OK")
            elif verb == "NOOP":
                say("250 OK")
            elif verb == "QUIT":
                say("221 bye")
                await writer.drain()
                break
            else:
                say("502 not implemented")
            await writer.drain()
        writer.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def header(msg, name):
    """A header decoded as a reader's mail program shows it, or None."""
    value = msg.get(name)
    if value is None:
        return None
    return str(email.header.make_header(email.header.decode_header(
        re.sub(r"\r?\n[ \t]+", " ", str(value)))))


def addresses(text):
    return sorted(a.lower() for _, a in email.utils.getaddresses([text or ""])
                  if a)


def expected_subjects(patches):
    """Subject: of each patch file, unfolded."""
    out = []
    for path in patches:
        with open(path) as f:
            head = f.read().partition("\n\n")[0]
        m = re.search(r"^Subject: (.*(?:\n[ \t].*)*)", head, re.M)
        out.append(re.sub(r"\n[ \t]+", " ", m.group(1)) if m else None)
    return out


def base_commit(cover):
    with open(cover) as f:
        m = re.search(r"^base-commit: ([0-9a-f]{40})$", f.read(), re.M)
    if not m:
        raise Failure(f"{cover}: no base-commit: line")
    return m.group(1)


def inside(a):
    need_deps("list-round-trip")
    stack = os.path.abspath(a.stack)
    _, patches = read_series(stack)
    tree = os.path.abspath(a.tree or default_tree(stack))
    checks = Report("list-round-trip")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # A proxy from the environment is out of reach in here, and urllib
    # and b4 would go through it even to 127.0.0.1.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(var, None)
    os.environ["no_proxy"] = os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    scratch = tempfile.mkdtemp(prefix="vmff-list-")
    wt = os.path.join(scratch, "linux")
    procs = []
    try:
        env = dict(os.environ, PI_CONFIG=os.path.join(scratch, "pi-config"),
                   HOME=scratch)
        inbox = os.path.join(scratch, "inbox")
        subprocess.run(["public-inbox-init", "-V2", "-L", "basic", INBOX, inbox,
                        f"http://127.0.0.1/{INBOX}/", LIST], env=env,
                       check=True, capture_output=True)
        # No spam filter: it is our own mail
        subprocess.run(["git", "config", "-f", env["PI_CONFIG"],
                        "publicinboxmda.spamcheck", "none"], check=True)
        mda_errors = []

        def deliver(rcpts, data):
            p = subprocess.run(["public-inbox-mda"], input=data,
                               env=dict(env, ORIGINAL_RECIPIENT=LIST),
                               capture_output=True)
            if p.returncode:
                mda_errors.append(p.stderr.decode(errors="replace"))
            return p.returncode

        listener = Listener(deliver)
        p = subprocess.run([f"{T}/send-dry-run", "--stack", stack, "--tree",
                            tree, "--from", a.sender, "--smtp-port",
                            str(listener.port)], text=True,
                           capture_output=True)
        sent = p.stdout + p.stderr
        checks.check("git send-email sends every mail to the listener",
                      p.returncode == 0, sent + "".join(mda_errors))
        if p.returncode:
            return checks
        to = re.search(r"^To: (.*)$", sent, re.M).group(1)
        cc = re.search(r"^Cc: (.*)$", sent, re.M).group(1)
        msgs = listener.messages
        checks.check(f"the listener received {len(msgs)} of {len(patches)}"
                      " messages, and the list's archive took each",
                      len(msgs) == len(patches) and not mda_errors
                      and all(m[3] == 0 for m in msgs),
                      "\n".join(mda_errors))
        want_rcpts = sorted(set(addresses(to) + addresses(cc)))
        wrong = [i for i, m in enumerate(msgs)
                 if sorted(set(r.lower() for r in m[1])) != want_rcpts]
        checks.check("every envelope goes to get_maintainer.pl's To: and"
                      " Cc:, and nobody else", not wrong,
                      f"messages {wrong}: want {want_rcpts}")
        cover_id = email.message_from_bytes(msgs[0][2]).get("Message-ID")

        port = free_port()
        procs.append(subprocess.Popen(
            ["public-inbox-httpd", "-l", f"http://127.0.0.1:{port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if not wait_for_port(port):
            checks.check("public-inbox-httpd serves the archive", False)
            return checks
        url = f"http://127.0.0.1:{port}/{INBOX}/"
        thread = gzip.decompress(urllib.request.urlopen(
            url + cover_id.strip("<>") + "/t.mbox.gz", timeout=60).read())
        # mboxrd: a body line '>*From ' got one more '>' (RFC 4155)
        archived = [email.message_from_bytes(
            re.sub(rb"(?m)^>(>*From )", rb"\1", m),
            policy=email.policy.compat32)
            for m in re.split(rb"(?m)^From mboxrd@z .*\n", thread)
            if m.strip()]
        checks.check(f"the archive holds the thread: {len(archived)} of"
                      f" {len(patches)} messages under the cover letter",
                      len(archived) == len(patches))
        by_id = {m.get("Message-ID"): m for m in archived}
        ordered = [by_id.get(email.message_from_bytes(m[2]).get(
            "Message-ID")) for m in msgs]
        replies = [m.get("In-Reply-To") if m else None for m in ordered[1:]]
        checks.check("one thread: every patch replies to the cover letter",
                      None not in ordered and
                      replies == [cover_id] * (len(patches) - 1),
                      f"In-Reply-To: {sorted(set(map(str, replies)))}")
        subjects = [header(m, "Subject") if m else None for m in ordered]
        want = expected_subjects(patches)
        n = len(patches) - 1
        prefix_ok = all(s and s.startswith(f"[PATCH v2 {i:0{len(str(n))}d}/{n}]")
                        for i, s in enumerate(subjects))
        checks.check(f"subjects read as in patches/, '[PATCH v2 NN/{n}]'",
                      prefix_ok and subjects == want,
                      "\n".join(f"{s!r} != {w!r}" for s, w
                                in zip(subjects, want) if s != w))
        froms = {header(m, "From") for m in ordered if m}
        checks.check(f"every message is from {a.sender}",
                      froms == {a.sender}, f"From: {froms}")
        unsigned = [i for i, m in enumerate(ordered[1:], 1) if m is None
                    or re.findall(r"(?m)^Signed-off-by: (.*)$", (
                        m.get_payload(decode=True) or b"").decode(
                            "utf-8", "replace"))[-1:] != [a.sender]]
        checks.check("every patch is signed off by the sender, last",
                      not unsigned, f"messages {unsigned}")
        heads_ok = all(addresses(header(m, "To")) == addresses(to) and
                       addresses(header(m, "Cc")) == addresses(cc)
                       for m in ordered if m)
        checks.check("To: and Cc: headers as get_maintainer.pl chose them",
                      heads_ok)
        # Each body as the list delivered it must be the patch file's, with
        # the sender where the file has the placeholder (send-dry-run
        # refuses a mail with the placeholder left anywhere).
        # Each message as the archive serves it alone (its raw URL).
        placeholder = patch_author(patches[0])
        mangled = []
        for i, (m, path) in enumerate(zip(ordered, patches)):
            if m is None:
                continue
            m = email.message_from_bytes(urllib.request.urlopen(
                url + m.get("Message-ID").strip("<>") + "/raw",
                timeout=60).read(), policy=email.policy.compat32)
            with open(path, encoding="utf-8") as f:
                want_body = f.read().partition("\n\n")[2].replace(
                    placeholder, a.sender)
            try:
                body = (m.get_payload(decode=True) or b"").decode(
                    m.get_content_charset() or "utf-8")
            except (UnicodeDecodeError, LookupError) as e:
                mangled.append(f"message {i}: {e}")
                continue
            # How many newlines end a body is the one thing the archive's
            # HTTP views do not keep (public-inbox-httpd adds one to some);
            # git am does not care either.
            body = body.replace("\r\n", "\n").rstrip("\n") + "\n"
            want_body = want_body.rstrip("\n") + "\n"
            if body != want_body:
                first = next((n for n, (x, y) in enumerate(zip(
                    body.splitlines(), want_body.splitlines())) if x != y),
                    min(body.count("\n"), want_body.count("\n")))
                got_lines = body.splitlines() + [""]
                want_lines = want_body.splitlines() + [""]
                mangled.append(f"message {i} ({os.path.basename(path)}):"
                               f" body differs from line {first + 1}:"
                               f" {got_lines[first][:60]!r} where"
                               f" patches/ has"
                               f" {want_lines[first][:60]!r}")
        checks.check("every body arrives as in patches/ but for the sender"
                      " (and how many newlines end it)", not mangled,
                      "\n".join(mangled))

        # The reviewer's side: b4 am by the cover letter's Message-ID,
        # its midmask pointed at the local archive as it is at lore.  b4
        # wants to know who it works for, as a reviewer's git does.
        with open(os.path.join(scratch, ".gitconfig"), "w") as f:
            f.write(f"[user]\n\tname = A Reviewer\n"
                    f"\temail = reviewer@localhost\n"
                    f"[b4]\n\tmidmask = {url}%s\n")
        out = os.path.join(scratch, "b4")
        os.makedirs(out)
        p = subprocess.run(["b4", "--no-stdin", "am", "-o", out,
                            cover_id.strip("<>")], env=env, text=True,
                           capture_output=True, timeout=300)
        mbx = [os.path.join(out, f) for f in os.listdir(out)
               if f.endswith(".mbx")]
        checks.check("b4 am fetches the series from the archive by the"
                      " cover letter's Message-ID", p.returncode == 0
                      and len(mbx) == 1, f"exit {p.returncode}:\n"
                      + p.stdout + p.stderr)
        if len(mbx) != 1:
            return checks
        base = base_commit(patches[0])
        p = sparse_am(tree, wt, base, mbx, env={
            "GIT_COMMITTER_NAME": "reviewer",
            "GIT_COMMITTER_EMAIL": "reviewer@localhost"})
        # The mails name the sender where the patches name the project's
        # placeholder (tools/send-dry-run): in MAINTAINERS' M: line.
        diff = subprocess.run(["git", "-C", wt, "diff", "--no-color",
                               "--unified=0", "series", "HEAD"], text=True,
                              capture_output=True).stdout
        changed = [l for l in diff.splitlines()
                   if l.startswith(("+", "-"))
                   and not l.startswith(("+++", "---"))]
        files = re.findall(r"^diff --git a/(\S+)", diff, re.M)
        only_sender = (files in ([], ["MAINTAINERS"]) and all(
            re.fullmatch(r"[-+]M:\t.*", l) for l in changed)
            and [l for l in changed if l.startswith("+")]
            == [f"+M:\t{a.sender}"] * (len(changed) // 2))
        checks.check("git am of b4's mbox on the base gives the series'"
                      " tree, but for the sender on MAINTAINERS' M: line",
                      p.returncode == 0 and only_sender,
                      p.stdout + p.stderr + "\n" + diff[:3000])
        return checks
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
        if os.path.isdir(wt):
            subprocess.run(["git", "-C", tree, "worktree", "remove",
                            "--force", wt], capture_output=True)
        if a.keep:
            print(f"list-round-trip: kept {scratch} (inbox/, b4/)")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def main():
    ap = doc_parser(__doc__)
    ap.add_argument("--stack", default=TOP)
    ap.add_argument("--tree")
    ap.add_argument("--from", dest="sender", required=True,
                    metavar="'NAME <ADDR>'", help="who sends the mails")
    ap.add_argument("--keep", action="store_true",
                    help="keep the archive and b4's mbox, and say where")
    a = ap.parse_args()
    marker = os.environ.get(IN_NAMESPACE)
    if marker is not None and marker != str(os.getpid()):
        raise Failure(f"{IN_NAMESPACE}={marker} but this is process"
                      f" {os.getpid()}: not the namespace this tool made;"
                      " refusing to nest another")
    if marker is None:
        # Into a network namespace with nothing but lo, then here again
        prefix = netns_prefix()
        # The run in the namespace is this tool's: it writes the report
        env = dict(os.environ, **({"VMFF_REPORT": REPORT_PATH}
                                  if REPORT_PATH else {}))
        return subprocess.run(
            prefix + ["sh", "-c", f'{IN_NAMESPACE}=$$ exec "$0" "$@"',
                      sys.executable, os.path.join(T, "list-round-trip")]
            + sys.argv[1:], env=env).returncode
    # A test command that is stopped still removes the worktree and stops
    # public-inbox-httpd (inside()'s finally)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    checks = inside(a)
    return checks.close()
