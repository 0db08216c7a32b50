"""The script's other lines: backtick commands, and `%{ }%` snippets over TCP_INFO.

Of the commands, `sysctl` writes become the target's settings, `sockstat`
(piped into `grep`) reads the target's socket table, and `tcpdrop -s STATE`
ends connections; the others are listed as ignored. A snippet's `assert`
lines are evaluated over integers only, never run as Python.
"""

from __future__ import annotations

import ast
import re
import shlex

from .model import CodeEvent, CommandEvent
from .run_state import RunState, ScriptFailure
from .sysctls import LINUX_TEST_DEFAULTS, linux_sysctl_name
from .target import FREEBSD_STATE_NUMBERS, SocketRow

# FreeBSD's TCPS_* numbering for %{ tcpi_state }% snippets, and Linux's TCPI_OPT_* bits.
_TCPI_NAMES = {
    "TCPI_CLOSED": 0, "TCPI_LISTEN": 1, "TCPI_SYN_SENT": 2, "TCPI_SYN_RECEIVED": 3, "TCPI_SYN_RECV": 3,
    "TCPI_ESTABLISHED": 4, "TCPI_CLOSE_WAIT": 5, "TCPI_FIN_WAIT_1": 6, "TCPI_FIN_WAIT1": 6,
    "TCPI_CLOSING": 7, "TCPI_LAST_ACK": 8, "TCPI_FIN_WAIT_2": 9, "TCPI_FIN_WAIT2": 9, "TCPI_TIME_WAIT": 10,
    "TCPI_OPT_TIMESTAMPS": 1, "TCPI_OPT_SACK": 2, "TCPI_OPT_WSCALE": 4, "TCPI_OPT_ECN": 8,
    "TCPI_OPT_ECN_SEEN": 16,
}


class CommandLines(RunState):
    """Backtick commands and `%{ }%` snippets, answered by the target."""

    def _command(self, ev: CommandEvent) -> None:
        for line in ev.command.splitlines():
            self._command_line(ev, line)

    def _command_line(self, ev: CommandEvent, cmd: str) -> None:
        words = cmd.split()
        if not words:
            return
        if words[0].endswith("defaults.sh"):
            # packetdrill's gtests/net/common/defaults.sh: Linux's test settings.
            for name, value in LINUX_TEST_DEFAULTS:
                self._linux_sysctl(name, value)
            return
        if words[0].endswith("set_sysctls.py") or (words[0] == "sysctl" and any(
                w.startswith(("net.ipv4.", "net.core.", "net.mptcp.")) for w in words[1:])):
            # `set_sysctls.py /proc/sys/net/ipv4/NAME=VALUE ...` and `sysctl -q net.ipv4.NAME=VALUE`.
            try:
                args = shlex.split(cmd, comments=True)[1:]
            except ValueError:
                args = words[1:]
            for arg in args:
                name, sep, value = arg.partition("=")
                if sep and not arg.startswith("-"):
                    self._linux_sysctl(linux_sysctl_name(name), value)
            return
        if words[0] == "ethtool" and "tso" in words and words[words.index("tso") + 1:][:1] == ["off"]:
            # `ethtool -K tun0 tso off gso off`: the stack's segments reach the wire as they are.
            self.tso = False
            return
        if words[0] == "sysctl":
            for word in words[1:]:
                if word.startswith("-"):
                    continue
                name, sep, value = word.partition("=")
                if not sep:
                    continue  # a read, not a write
                if not self.target.sysctl(name, value):
                    self.ignored.append(f"sysctl {name}")
            return
        if words[0] == "sockstat":
            status, output = self._pipeline(cmd)
            if status != 0:
                raise ScriptFailure(f"line {ev.line}: `{cmd}` failed: the socket table gives "
                                    f"{output!r} ({self._state_summary()})")
            return
        if words[0] == "tcpdrop" and len(words) == 3 and words[1] == "-s" and self.target.tcpdrop(words[2]):
            return
        self.ignored.append(f"command {words[0]}")

    def _linux_sysctl(self, name: str, value: str) -> None:
        if not self.target.linux_sysctl(name, value):
            self.ignored.append(f"sysctl {name}")

    def _socket_table(self) -> list[SocketRow]:
        """(ours, local port, remote port, FreeBSD state name) for every socket and connection."""
        return self.target.socket_table(self.fds.values())

    def _state_summary(self) -> str:
        rows = self._socket_table()
        text = ", ".join(f"{'fd' if ours else 'kernel'} :{lp}>{rp} {st}" for ours, lp, rp, st in rows)
        return text or "no sockets"

    def _pipeline(self, cmd: str) -> tuple[int, str]:
        """`sockstat [-4] [-P tcp] [-p PORT] [-s] | grep [-c] WORD | ...`: exit status and output."""
        stages = [shlex.split(s) for s in cmd.split("|")]
        first = stages[0]
        port = None
        if "-p" in first:
            port = int(first[first.index("-p") + 1])
        lines = []
        for ours, lport, rport, state in self._socket_table():
            if port is not None and port not in (lport, rport):
                continue
            user = "root     packetdrill 4242" if ours else "?        ?           ?   "
            local, remote = self.target.local_ip, self.target.remote_ip
            lines.append(f"{user} tcp4 {local}:{lport} {remote}:{rport} {state}")
        status = 0
        for stage in stages[1:]:
            if not stage or stage[0] != "grep":
                raise ScriptFailure(f"unsupported command in pipeline: {' '.join(stage)}")
            count = "-c" in stage
            pattern = next((w for w in stage[1:] if not w.startswith("-")), "")
            matched = [line for line in lines if re.search(pattern, line)]
            status = 0 if matched else 1
            lines = [str(len(matched))] if count else matched
        return status, "\n".join(lines)

    def _code(self, ev: CodeEvent) -> None:
        # TCP_INFO of the socket the last call used, or else of the newest one still open.
        fd = self.socket_under_test
        if fd not in self.fds and self.fds:
            fd = max(self.fds)
        sock = self.fds.get(fd) if fd is not None else None
        if sock is None:
            raise ScriptFailure(f"line {ev.line}: %{{ }}% needs a socket, and there is none open")
        state, values = self.target.tcp_info(sock)
        names = dict(_TCPI_NAMES)
        names["tcpi_state"] = FREEBSD_STATE_NUMBERS[state]
        names.update(values)
        try:
            ok = _safe_asserts(ev.code, names)
        except ValueError as e:
            raise ScriptFailure(f"line {ev.line}: cannot evaluate %{{ {ev.code} }}%: {e}") from None
        if not ok:
            shown = {k: v for k, v in names.items() if k.startswith("tcpi_")}
            raise ScriptFailure(f"line {ev.line}: assertion failed: {ev.code} "
                                f"({self.target.name}: {state}, {shown})")


_AST_OPS = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.BitOr: lambda a, b: a | b, ast.BitAnd: lambda a, b: a & b, ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
}


def _safe_asserts(code: str, names: dict[str, int]) -> bool:
    """Evaluate `assert EXPR` lines over integer names only (no Python is executed)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise ValueError(str(e)) from None

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ValueError(f"{node.id} is not available")
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPS:
            return int(_AST_OPS[type(node.op)](ev(node.left), ev(node.right)))
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = ev(right_node)
                if type(op) not in _AST_OPS or not _AST_OPS[type(op)](left, right):
                    return 0
                left = right
            return 1
        if isinstance(node, ast.BoolOp):
            values = [ev(v) for v in node.values]
            return int(all(values) if isinstance(node.op, ast.And) else any(values))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return int(not ev(node.operand))
        raise ValueError(f"unsupported expression {ast.dump(node)[:60]}")

    for stmt in tree.body:
        if not isinstance(stmt, ast.Assert):
            raise ValueError("only assert statements are supported")
        if not ev(stmt.test):
            return False
    return True
