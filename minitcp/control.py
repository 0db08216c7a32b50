"""The control socket: how `minitcp ss` and `minitcp stat` look inside a running `minitcp up`.

`minitcp up` listens on a Unix stream socket (mode 0600, removed on exit) at

    --control PATH, else
    /run/minitcp/DEV.sock                  as root (like other daemons' sockets),
    $XDG_RUNTIME_DIR/minitcp/DEV.sock      for a user with a runtime directory,
    /tmp/minitcp-UID/DEV.sock              otherwise (the directory 0700 and ours).

The protocol is one JSON object per connection each way, each a single line:
the client sends `{"request": "ss"}` and reads one reply line, then both
close. Requests:

    ss     {"ok": true, "rows": [{"state", "recv_q", "send_q", "local", "peer", "timer"}...],
            "text": the table as `ss -tano` prints it, "text_info": as `ss -tanoi` prints it}
    stat   {"ok": true, "tcp": {"InSegs": 12, ...} (Linux MIB names), "ip": {"InReceives": ...},
            "icmp": {"InEchos": ...}, "drops": {"not_for_us": 1, ...}}
    knobs  {"ok": true, "knobs": {"tcp_fin_timeout": 60.0, ...}}
    sysctl {"request": "sysctl", "name": "net.ipv4.tcp_fin_timeout"[, "value": "5"]}: one knob read,
           or set when "value" is given -> {"ok": true, "key": "net.ipv4.tcp_fin_timeout", "value": "5"},
           or {"ok": true, "key": ..., "error": "setting key \"net.ipv4...\": Invalid argument"}
           when sysctl(8) would refuse it (minitcp/sysctl.py)
    info   {"ok": true, "dev": "mtcp0", "addr": "198.18.0.2", "pid": 1234}

Anything else gets {"ok": false, "error": "..."}: an unknown request, a line that is not
JSON, one longer than MAX_REQUEST bytes or nested deeper than MAX_DEPTH, even a bug in
answering. No request can stop the server or the stack it serves. The server answers from the
stack's own Trio task, so a reply is one consistent snapshot.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import stat
import sys
from typing import Any

import trio

from minitcp.stack import Stack
from minitcp.sysctl import SysctlError, setting
from minitcp.tcp.counters import MIB
from minitcp.trace.ss import ss, ss_rows

MAX_REQUEST = 4096  # bytes: a request is one small JSON line
# Arrays and objects inside one another: a request is one flat object. Checked before json.loads,
# whose parser recurses once per level and raises RecursionError near 1,000 levels.
MAX_DEPTH = 4
CLIENT_TIMEOUT = 3.0  # seconds a client waits for the stack to answer
_IP = ("InReceives", "InDelivers", "OutRequests")  # Stack.counters of the Ip group; the rest is Icmp
_TCP_GROUP = MIB[: MIB.index("InCsumErrors") + 1]  # RFC 4022's Tcp counters; the rest are TcpExt

log = logging.getLogger("minitcp.control")


class ControlError(Exception):
    """A client-side failure, already worded as the one line to print."""


# ---------------------------------------------------------------------------- where


def default_path(dev: str) -> str:
    """Where `minitcp up --dev DEV` listens unless told otherwise (see the module docstring)."""
    if os.geteuid() == 0:
        base = "/run/minitcp"
    elif os.environ.get("XDG_RUNTIME_DIR"):
        base = os.path.join(os.environ["XDG_RUNTIME_DIR"], "minitcp")
    else:
        base = f"/tmp/minitcp-{os.geteuid()}"
    return os.path.join(base, f"{dev}.sock")


def candidate_paths(dev: str) -> list[str]:
    """Where a client looks for DEV's stack: our own default first, then the other places.

    A stack started with sudo listens in /run/minitcp while a plain `minitcp ss` would look in
    $XDG_RUNTIME_DIR; finding it there gives "permission denied, try sudo" rather than "no stack".
    """
    paths = [default_path(dev), os.path.join("/run/minitcp", f"{dev}.sock")]
    if os.environ.get("XDG_RUNTIME_DIR"):
        paths.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "minitcp", f"{dev}.sock"))
    paths.append(os.path.join(f"/tmp/minitcp-{os.geteuid()}", f"{dev}.sock"))
    return list(dict.fromkeys(paths))


def _make_dir(directory: str) -> None:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    st = os.lstat(directory)
    # In a shared place like /tmp the directory must be a real one and ours, or another user could
    # have planted it (or a symlink) to catch our socket.
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise OSError(f"{directory} is not a directory owned by uid {os.geteuid()}")


def _in_use(path: str) -> bool:
    """Whether a live server answers at `path` (a stale file from a killed `up` does not)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


# ---------------------------------------------------------------------------- server


def answer(stack: Stack, request: dict[str, Any], dev: str = "") -> dict[str, Any]:
    """The reply to one request (also usable without a socket, e.g. in tests)."""
    what = request.get("request")
    if what == "ss":
        # Timers are shown as time left from now, not from the engine's last packet or timer,
        # so an idle TIME-WAIT counts down as `ss` would show it.
        now = stack.now()
        rows = [dict(zip(("state", "recv_q", "send_q", "local", "peer", "timer"), row, strict=True))
                for row in ss_rows(stack.engine, now=now)]
        return {"ok": True, "rows": rows, "text": ss(stack.engine, now=now),
                "text_info": ss(stack.engine, now=now, info=True)}
    if what == "stat":
        ip = {k: stack.counters[k] for k in _IP}
        icmp = {k: v for k, v in stack.counters.items() if k not in _IP}
        return {"ok": True, "tcp": dict(stack.engine.counters), "ip": ip, "icmp": icmp,
                "drops": dict(stack.drops)}
    if what == "knobs":
        return {"ok": True, "knobs": stack.knobs.as_dict()}
    if what == "sysctl":
        name, value = request.get("name"), request.get("value")
        if not isinstance(name, str) or not (value is None or isinstance(value, str)):
            return {"ok": False, "error": "bad request: sysctl takes a string \"name\" and maybe a \"value\""}
        try:
            key, shown = setting(stack.knobs, name, value)
        except SysctlError as e:
            return {"ok": True, "key": name, "error": str(e)}
        return {"ok": True, "key": key, "value": shown}
    if what == "info":
        return {"ok": True, "dev": dev, "addr": stack.address, "pid": os.getpid()}
    return {"ok": False, "error": f"unknown request {what!r} (known: ss, stat, knobs, sysctl, info)"}


async def serve_control(stack: Stack, path: str, dev: str = "", *,
                        task_status: trio.TaskStatus[str | None] = trio.TASK_STATUS_IGNORED) -> None:
    """Listen on `path` until cancelled, then remove it. Never stops the stack over a problem:
    if the socket cannot be had, it says so in one line and the stack runs without it."""
    try:
        _make_dir(os.path.dirname(path) or ".")
        if _in_use(path):
            raise OSError(f"another minitcp stack answers at {path}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a stale socket left by a stack that was killed
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # umask makes the file 0600 from its first instant (a chmod after bind would leave a window
        # where another user could connect); `up` has no other threads yet, so the process-wide
        # umask is safe to swap.
        old = os.umask(0o177)
        try:
            await sock.bind(path)
        finally:
            os.umask(old)
        sock.listen(16)
        inode = os.stat(path).st_ino
    except OSError as e:
        print(f"minitcp: no control socket ({e.strerror or e}); `minitcp ss` and `minitcp stat` will not "
              "reach this stack", flush=True)
        task_status.started(None)
        return
    print(f"minitcp: control socket {path}: try `minitcp ss`, `minitcp stat`", flush=True)
    task_status.started(path)
    try:
        with sock:
            async with trio.open_nursery() as nursery:
                while True:
                    conn, _ = await sock.accept()
                    nursery.start_soon(_handle, stack, conn, dev)
    finally:
        # Only our own file: if another stack took the path over, its socket stays.
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == inode:
                os.unlink(path)


async def _handle(stack: Stack, conn: trio.socket.SocketType, dev: str) -> None:
    with conn:
        data = b""
        # A client that connects and says nothing must not hold a task for ever, nor one that
        # talks without end fill our memory: one byte past MAX_REQUEST is enough to refuse it.
        with trio.move_on_after(CLIENT_TIMEOUT):
            while b"\n" not in data and len(data) <= MAX_REQUEST:
                try:
                    chunk = await conn.recv(MAX_REQUEST + 1 - len(data))
                except OSError:
                    return
                if not chunk:
                    break
                data += chunk
        reply = _reply(stack, data.split(b"\n", 1)[0], dev)
        out = json.dumps(reply).encode() + b"\n"
        with trio.move_on_after(CLIENT_TIMEOUT), contextlib.suppress(OSError):
            while out:
                sent = await conn.send(out)
                out = out[sent:]


def _reply(stack: Stack, line: bytes, dev: str) -> dict[str, Any]:
    """The reply to one request line: whatever the line holds, a reply and never an exception."""
    if len(line) > MAX_REQUEST:
        return {"ok": False, "error": f"bad request: longer than {MAX_REQUEST} bytes"}
    if _depth(line) > MAX_DEPTH:
        return {"ok": False, "error": f"bad request: nested deeper than {MAX_DEPTH} levels"}
    try:
        request = json.loads(line or b"null")
    except ValueError as e:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return {"ok": False, "error": f"bad request: {e}"}
    if not isinstance(request, dict):
        return {"ok": False, "error": "bad request: not a JSON object"}
    try:
        return answer(stack, request, dev)
    except Exception as e:
        # A bug in answering one request must not end the server (its nursery would cancel the
        # stack's other tasks with it): the client hears of it, the log keeps the traceback.
        log.exception("control request %r failed", request.get("request"))
        return {"ok": False, "error": f"internal error: {type(e).__name__}: {e}"}


def _depth(line: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in line:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash: the next byte is escaped, even a quote
                escaped = True
            elif byte == 0x22:  # the closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


# ---------------------------------------------------------------------------- client


def request(path: str, what: str, timeout: float = CLIENT_TIMEOUT, **fields: Any) -> dict[str, Any]:
    """Ask the stack at `path` (`fields` go along with the request); ControlError (one line) if no
    stack answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(f"no minitcp stack is running here: nothing listens on {path} "
                               "(start one with `minitcp up`, or give --dev/--control)") from None
        except PermissionError:
            raise ControlError(f"cannot open {path}: permission denied (the stack runs as another user; "
                               "try sudo)") from None
        except OSError as e:
            raise ControlError(f"cannot reach the stack at {path}: {e.strerror or e}") from None
        try:
            sock.sendall(json.dumps({"request": what, **fields}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as e:
            raise ControlError(f"the stack at {path} did not answer: {e.strerror or e}") from None
    try:
        reply = json.loads(data)
    except (ValueError, RecursionError):
        reply = None
    if not isinstance(reply, dict):
        raise ControlError(f"the stack at {path} answered with something not a JSON object: {data[:80]!r}")
    if not reply.get("ok"):
        raise ControlError(f"the stack at {path} refused {what!r}: {reply.get('error')}")
    reply.pop("ok")
    return reply


def nstat_counters(reply: dict[str, Any]) -> dict[str, int]:
    """A `stat` reply as nstat names it: IpInReceives, IcmpInEchos, TcpInSegs, TcpExtDelayedACKs, ...

    Drops have no Linux counter of their own here, so they get a Minitcp prefix: MinitcpDropNotForUs.
    """
    out: dict[str, int] = {}
    out.update({f"Ip{k}": v for k, v in reply.get("ip", {}).items()})
    out.update({f"Icmp{k}": v for k, v in reply.get("icmp", {}).items()})
    for k, v in reply.get("tcp", {}).items():
        out[f"{'Tcp' if k in _TCP_GROUP else 'TcpExt'}{k}"] = v
    for label, n in sorted(reply.get("drops", {}).items()):
        out["MinitcpDrop" + "".join(part.capitalize() for part in label.split("_"))] = n
    return out


def format_stat(counters: dict[str, int], *, all_counters: bool = False) -> str:
    """nstat's layout: the name in 32 columns, then the value; zeros only when asked."""
    lines = ["#minitcp"]
    lines += [f"{name:<32}{value}" for name, value in counters.items() if value or all_counters]
    return "\n".join(lines)


def add_client_commands(commands: Any, default_dev: str) -> None:
    """`minitcp ss` and `minitcp stat` as subcommands of `commands` (argparse subparsers)."""
    for name, help_text in (
        ("ss", "list a running stack's sockets, like `ss -tano`"),
        ("stat", "print a running stack's counters, like `nstat`"),
    ):
        p = commands.add_parser(
            name, help=help_text,
            description=f"Ask a running `minitcp up` (through its control socket) to {help_text[0].lower()}"
            f"{help_text[1:]}. Prints one line and exits 1 if no stack is running.",
        )
        where = p.add_mutually_exclusive_group()
        where.add_argument("--dev", default=default_dev,
                           help="the TUN device the stack runs on (default: %(default)s)")
        where.add_argument("--control", metavar="PATH", help="the stack's control socket (`up --control`)")
        p.add_argument("--json", action="store_true", help="print the stack's JSON reply")
        if name == "stat":
            p.add_argument("-a", "--all", "-z", "--zeros", dest="all", action="store_true",
                           help="include counters that are zero")
        else:
            p.add_argument("-i", "--info", action="store_true",
                           help="show each connection's TCP_INFO as `ss -ti` does")
        p.set_defaults(run=run_client)


def _maybe_there(path: str) -> bool:
    """Whether a stack may listen at `path`: something is there, or we may not look.

    os.path.exists says False when a directory on the way is closed to us (/run/minitcp is 0700
    root's), which would turn a stack started with sudo into "not running" instead of "permission
    denied, try sudo".
    """
    try:
        os.stat(path)
    except PermissionError:  # EACCES or EPERM on the way to the file
        return True
    except OSError:
        return False
    return True


def stack_path(args: argparse.Namespace) -> str:
    """The control socket a client command (--dev or --control) talks to."""
    return args.control or next((p for p in candidate_paths(args.dev) if _maybe_there(p)),
                                default_path(args.dev))


def run_client(args: argparse.Namespace) -> int:
    path = stack_path(args)
    try:
        reply = request(path, args.command)
    except ControlError as e:
        print(f"minitcp {args.command}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(reply, indent=2))
    elif args.command == "ss":
        print(reply["text_info"] if args.info else reply["text"])
    else:
        print(format_stat(nstat_counters(reply), all_counters=args.all))
    return 0
