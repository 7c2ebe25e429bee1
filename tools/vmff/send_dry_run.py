"""Address a stack's patches with get_maintainer.pl and dry-run git send-email.

usage: tools/send-dry-run [--stack DIR] [--tree DIR] [--from 'NAME <ADDR>']
                          [--smtp-port PORT]

What a submitter does last, without the network.  The patches carry the
repository's fixed placeholder identity, so that exporting them is byte
for byte reproducible; the mails carry the sender's: the From: and
Signed-off-by: lines, and the M: line of the MAINTAINERS entry the series
adds, are rewritten to --from, or to git's user.name and user.email, and
the tool refuses to go on with the placeholder left anywhere in a mail or
an address that cannot receive mail (example.com/.org/.net, .invalid).

get_maintainer.pl of TREE (default work/<stack>/linux, which must hold
the applied series, so that its MAINTAINERS changes count) reads the
stack's patches: maintainers go on To:, reviewers and mailing lists on
Cc:, the sender is left out.
Then 'git send-email --dry-run' goes over patches/ with those lists, in a
network namespace of its own (unshare -n, or unshare -rn when not root),
so nothing can leave the machine.

--smtp-port PORT sends for real instead, to the SMTP listener on
127.0.0.1:PORT, and only from a network namespace that has nothing but
loopback (tools/list-round-trip makes one, with a local list behind the
listener); the checks are the same, a message counting as accepted on
the listener's 250.

It fails unless every message is accepted (Dry-OK), comes from the
sender and, but for the cover letter, carries the sender's
Signed-off-by:, the patches are threaded under the cover letter, and the
maintainers of the files the series touches (timekeeping, PTP, vmclock)
are on To:.
"""

import os
import re
import shutil
import subprocess
import tempfile

from .core import TOP, Failure, doc_parser, netns_prefix
from .deps import need_deps
from .stacks import (default_tree, kernel_tree, patch_author, read_series,
                     stack_name)

# Entries whose maintainers must be addressed: the series changes their
# files, so a list without them is a broken MAINTAINERS lookup.
MUST_ADDRESS = ("TIMEKEEPING, CLOCKSOURCE CORE, NTP, ALARMTIMER",
                "PTP VMCLOCK SUPPORT")


def get_maintainer(tree, patches, *opts):
    """The addresses get_maintainer.pl gives for PATCHES, in its order.

    --no-fixes: the Fixes: commits are not in a tree made from a release
    tarball, and their authors are in MAINTAINERS anyway.
    """
    p = subprocess.run(
        ["perl", "scripts/get_maintainer.pl", "--no-git", "--no-git-fallback",
         "--no-fixes", "--no-rolestats", "--no-multiline", "--separator",
         "\n"] + list(opts) + patches,
        cwd=tree, text=True, capture_output=True)
    if p.returncode != 0 or p.stderr.strip():
        raise Failure("get_maintainer.pl failed:"
                      f" {(p.stderr or p.stdout).strip()[-500:]}")
    return [line.strip() for line in p.stdout.splitlines() if line.strip()]


def entry_maintainers(tree, name):
    """The M: addresses of the MAINTAINERS entry NAME."""
    with open(os.path.join(tree, "MAINTAINERS")) as f:
        text = f.read()
    m = re.search(rf"^{re.escape(name)}\n((?:[A-Z]:\t.*\n)+)", text, re.M)
    if not m:
        raise Failure(f"MAINTAINERS has no entry {name!r}")
    return re.findall(r"^M:\t.*<([^>]+)>", m.group(1), re.M)


def recipients(tree, patches, *leave_out):
    """(to, cc): every maintainer of what the patches touch on To:, the
    reviewers and lists on Cc:, the addresses LEAVE_OUT (the sender, the
    placeholder of the entry the series adds) on neither."""
    to = get_maintainer(tree, patches, "--no-r", "--no-l")
    cc = [a for a in get_maintainer(tree, patches) if a not in to]
    to = [a for a in to if not any(x in a for x in leave_out)]
    cc = [a for a in cc if not any(x in a for x in leave_out)]
    missing = [e for e in MUST_ADDRESS
               if not any(m in a for m in entry_maintainers(tree, e)
                          for a in to)]
    if missing:
        raise Failure("no maintainer on To: for: " + "; ".join(missing))
    return to, cc


# Domains that can never receive mail (RFC 2606)
NO_MAIL = re.compile(r"@(?:[^>]*\.)?(?:example\.(?:com|org|net)|invalid)$",
                     re.I)


def sender_identity(given):
    """The sender, "Name <addr>": GIVEN, or git's user.name and user.email
    from the submitter's own configuration."""
    if given is None:
        def conf(key):
            p = subprocess.run(["git", "config", "--get", key], text=True,
                               capture_output=True)
            return p.stdout.strip()
        name, addr = conf("user.name"), conf("user.email")
        if not name or not addr:
            raise Failure("no sender identity: set git's user.name and"
                          " user.email, or pass --from 'Name <address>'")
        given = f"{name} <{addr}>"
    m = re.fullmatch(r"\s*([^<>]*?)\s*<([^<>@\s]+@[^<>@\s]+)>\s*", given)
    if not m or not m.group(1):
        raise Failure(f"--from {given!r}: not of the form 'Name <address>'")
    return m.group(1), m.group(2)


def as_sender(patches, placeholder, name, addr, into):
    """Copies of PATCHES in INTO with the PLACEHOLDER identity's From:,
    Signed-off-by: and added MAINTAINERS M: lines made the sender's, and
    how many M: lines that was."""
    ident = f"{name} <{addr}>"
    maintainer_lines = 0
    out = []
    for path in patches:
        with open(path) as f:
            text = f.read()
        text = re.sub(rf"(?m)^(From|Signed-off-by): {re.escape(placeholder)}$",
                      lambda m: f"{m.group(1)}: {ident}", text)
        # The MAINTAINERS entry the series adds names the sender as its
        # maintainer: whoever sends it answers for the code.
        text, n = re.subn(rf"(?m)^\+M:\t{re.escape(placeholder)}$",
                          f"+M:\t{ident}", text)
        maintainer_lines += n
        left = [l for l in text.splitlines() if placeholder in l]
        if left:
            raise Failure(f"{os.path.basename(path)}: the placeholder"
                          f" identity is left in {left[0]!r}")
        is_cover = os.path.basename(path).startswith("0000-")
        if not is_cover and f"\nSigned-off-by: {ident}\n" not in text:
            raise Failure(f"{os.path.basename(path)}: no Signed-off-by:"
                          f" of the sender after rewriting")
        copy = os.path.join(into, os.path.basename(path))
        with open(copy, "w") as f:
            f.write(text)
        out.append(copy)
    return out, maintainer_lines


def only_loopback():
    """A Failure unless this process's network namespace has no link up
    but lo: a real send may reach the test's listener and nothing else.
    (A new namespace may hold tunnel devices, tunl0 and the like, when
    their modules are loaded: they are down.)"""
    p = subprocess.run(["ip", "-o", "link", "show", "up"], text=True,
                       capture_output=True)
    links = re.findall(r"^\d+: ([^:@]+)", p.stdout, re.M)
    if p.returncode != 0 or links != ["lo"]:
        raise Failure("--smtp-port sends for real: only from a network"
                      " namespace with nothing but loopback (links up here:"
                      f" {' '.join(links) or p.stderr.strip()}); see"
                      " tools/list-round-trip")


def main():
    ap = doc_parser(__doc__)
    ap.add_argument("--stack", default=TOP)
    ap.add_argument("--tree")
    ap.add_argument("--from", dest="sender", metavar="'NAME <ADDR>'",
                    help="who sends and signs off (default: git's user.name"
                         " and user.email)")
    ap.add_argument("--smtp-port", type=int, metavar="PORT",
                    help="send for real to 127.0.0.1:PORT (loopback only)")
    a = ap.parse_args()
    need_deps("send-dry-run")
    if a.smtp_port is not None:
        if not 0 < a.smtp_port < 65536:
            raise Failure(f"--smtp-port {a.smtp_port}: not a port")
        only_loopback()
    stack = os.path.abspath(a.stack)
    _, patches = read_series(stack)
    if not patches or not os.path.basename(patches[0]).startswith("0000-"):
        raise Failure(f"{stack_name(stack)}: series has no cover letter")
    cover, rest = patches[0], patches[1:]
    placeholder = patch_author(cover)
    name, addr = sender_identity(a.sender)
    from_ = f"{name} <{addr}>"
    if addr.lower() in placeholder.lower():
        raise Failure(f"{from_} is the placeholder identity of the"
                      " patches: send as yourself (--from, or git's"
                      " user.name and user.email)")
    if NO_MAIL.search(addr):
        raise Failure(f"{addr} cannot receive mail (RFC 2606): send as"
                      " yourself")
    tree = kernel_tree(a.tree or default_tree(stack))
    held = re.search(r"<([^>]+)>", placeholder)
    to, cc = recipients(tree, rest, addr,
                        held.group(1) if held else placeholder)
    if a.smtp_port is None:
        how = netns_prefix() + ["git", "-c", "sendemail.smtpServer=localhost",
                            "send-email", "--dry-run"]
        accepted = "Dry-OK."
    else:
        how = ["git", "-c", "sendemail.smtpServer=127.0.0.1",
               "-c", f"sendemail.smtpServerPort={a.smtp_port}",
               "send-email"]
        accepted = "Result: 250"
    cmd = how + [
        "--confirm=never", "--thread",
        "--no-chain-reply-to", "--suppress-cc=all", "--no-validate",
        "--8bit-encoding=UTF-8", "--from", from_]
    # Not 'addr': that is the sender's, which as_sender() puts in the mails
    for rcpt in to:
        cmd += ["--to", rcpt]
    for rcpt in cc:
        cmd += ["--cc", rcpt]
    # No configuration but the command line's: the submitter's own
    # sendemail settings (an SMTP server, aliases) must not change the
    # result, so no system, global or repository config is read.
    scratch = tempfile.mkdtemp(prefix="vmff-send-")
    mails = os.path.join(scratch, "mails")
    os.mkdir(mails)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "XDG_"))}
    env.update(HOME=scratch, GIT_CONFIG_NOSYSTEM="1",
               GIT_CONFIG_GLOBAL=os.devnull, GIT_CEILING_DIRECTORIES="/")
    # Message-Ids are made from the sender's identity.
    ident = re.match(r"\s*(.*?)\s*<([^>]+)>", from_)
    if ident:
        for who in ("AUTHOR", "COMMITTER"):
            env[f"GIT_{who}_NAME"] = ident.group(1).strip('"')
            env[f"GIT_{who}_EMAIL"] = ident.group(2)
    try:
        copies, maintainer_lines = as_sender(patches, placeholder, name,
                                             addr, mails)
        p = subprocess.run(cmd + copies, cwd=scratch, text=True, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True)
    finally:
        shutil.rmtree(scratch)
    out = p.stdout + p.stderr
    ok_count = out.count(accepted)
    ids = re.findall(r"^Message-I[Dd]: (<[^>]+>)", out, re.M)
    replies = re.findall(r"^In-Reply-To: (<[^>]+>)", out, re.M)
    print("To: " + ", ".join(to))
    print("Cc: " + ", ".join(cc))
    problems = []
    if p.returncode != 0:
        problems.append(f"git send-email exited {p.returncode}:\n"
                        + out.strip()[-1500:])
    if ok_count != len(patches):
        problems.append(f"{ok_count} of {len(patches)} messages accepted")
    if out.count(f"From: {from_}") < len(patches):
        problems.append(f"not every message is from {from_}")
    if placeholder in out:
        problems.append(f"the mails still carry {placeholder}")
    if not ids or replies != [ids[0]] * (len(patches) - 1):
        problems.append("the patches are not threaded under the cover"
                        " letter")
    if problems:
        raise Failure("; ".join(problems))
    where = (f"sent from a network namespace ({' '.join(netns_prefix())})"
             if a.smtp_port is None else
             f"sent to 127.0.0.1:{a.smtp_port}, loopback only")
    print(f"send-dry-run: {len(patches)} messages"
          f" {'Dry-OK' if a.smtp_port is None else 'accepted'} from {from_},"
          f" signed off by the sender"
          f" ({maintainer_lines} MAINTAINERS M: line(s) made the sender's),"
          f" threaded under {ids[0]}, {len(to)} To and {len(cc)} Cc, {where}")
    return 0
