"""The script's other lines: backtick commands, and `%{ }%` snippets over TCP_INFO.

Of the commands, `sysctl` writes become the target's settings, `sockstat`
(piped into `grep`) reads the target's socket table, and `tcpdrop -s STATE`
ends connections; Linux's `defaults.sh`, `set_sysctls.py` and `sysctl -q`
lines set the target's Linux settings; `ethtool`, `tc` and `ip` lines configure
the kernel target's device (on minitcp, a root qdisc with no room is a local transmit drop:
qdisc.py); the others are listed as ignored. A
snippet is run as Python over the `tcpi_*` fields (tcp_info.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import textwrap

from .model import CodeEvent, CommandEvent
from .packetdrill_common import QDISC_COMMAND
from .run_state import RunState, ScriptFailure
from .sysctls import LINUX_TEST_DEFAULTS, linux_sysctl_name
from .target import FREEBSD_STATE_NUMBERS, SocketRow
from .tcp_info import LINUX_CONSTANTS, LINUX_STATE_BY_FREEBSD_NAME

# FreeBSD's TCPS_* numbering for the FreeBSD suite's %{ tcpi_state }% snippets.
_TCPI_NAMES = {
    "TCPI_CLOSED": 0, "TCPI_LISTEN": 1, "TCPI_SYN_SENT": 2, "TCPI_SYN_RECEIVED": 3, "TCPI_SYN_RECV": 3,
    "TCPI_ESTABLISHED": 4, "TCPI_CLOSE_WAIT": 5, "TCPI_FIN_WAIT_1": 6, "TCPI_FIN_WAIT1": 6,
    "TCPI_CLOSING": 7, "TCPI_LAST_ACK": 8, "TCPI_FIN_WAIT_2": 9, "TCPI_FIN_WAIT2": 9, "TCPI_TIME_WAIT": 10,
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
            self.target.device_command(QDISC_COMMAND)  # the referee's defaults.sh does too
            return
        if words[0].endswith("set_sysctls.py") or (words[0] == "sysctl" and any(
                w.startswith(("net.ipv4.", "net.core.", "net.mptcp.", "net/")) for w in words[1:])):
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
        if words[0] in ("/bin/dd", "dd", "/bin/rm", "rm") and self._scratch_file(words):
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
        problem = self.target.device_command(cmd)
        if problem is not None:
            if problem:  # as packetdrill's shell, a failing command does not fail the script
                self.ignored.append(f"command {words[0]} failed: {problem}")
            return
        self.ignored.append(f"command {words[0]}")

    @staticmethod
    def _scratch_file(words: list[str]) -> bool:
        """`rm -f /tmp/F` and `dd if=/dev/zero of=/tmp/F bs=N count=M`: the zero-filled file a
        sendfile() script sends (packetdrill expects payloads of zeros). Only under /tmp."""
        args = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if words[0].endswith("rm") and len(words) == 3 and words[1] == "-f" and words[2].startswith("/tmp/"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(words[2])
            return True
        path = args.get("of", "")
        if words[0].endswith("dd") and args.get("if") == "/dev/zero" and path.startswith("/tmp/"):
            with open(path, "wb") as f:
                f.write(bytes(int(args.get("bs", "512")) * int(args.get("count", "1"))))
            return True
        return False

    def _snippet_print(self, *args: object, **_: object) -> None:
        self._log("         %{ }% prints: " + " ".join(str(a) for a in args))

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
            family = "tcp6" if ":" in local else "tcp4"
            lines.append(f"{user} {family} {local}:{lport} {remote}:{rport} {state}")
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
        """Run the snippet as Python, as packetdrill does (code.c), over the socket's TCP_INFO.

        Scripts are trusted test data (packetdrill runs them as root too). As in packetdrill,
        the snippets of a script share one namespace: a name one defines, later ones see.
        """
        # TCP_INFO of the socket the last call used, or else of the newest one still open.
        fd = self.socket_under_test
        if fd not in self.fds and self.fds:
            fd = max(self.fds)
        sock = self.fds.get(fd) if fd is not None else None
        if sock is None:
            raise ScriptFailure(f"line {ev.line}: %{{ }}% needs a socket, and there is none open")
        state, values = self.target.tcp_info(sock)
        names = self.code_names
        names.update(LINUX_CONSTANTS)
        names.update(_TCPI_NAMES)
        # tcpi_state: FreeBSD's numbering for the FreeBSD suite's TCPI_<state> names, else Linux's.
        freebsd = re.search(r"\bTCPI_(?!OPT_)[A-Z_12]+\b", ev.code) is not None
        names["tcpi_state"] = FREEBSD_STATE_NUMBERS[state] if freebsd else LINUX_STATE_BY_FREEBSD_NAME[state]
        names.update(values)
        names["print"] = self._snippet_print  # what a snippet prints goes to the trace
        # A last line continued with a backslash runs into the snippet's end, as in packetdrill.
        code = textwrap.dedent(ev.code).strip().removesuffix("\\").rstrip()
        try:
            exec(compile(code, f"line {ev.line}", "exec"), names)
        except AssertionError:
            used = sorted(set(re.findall(r"\btcpi_\w+", code)))
            shown = {k: names[k] for k in used if k in names}
            raise ScriptFailure(f"line {ev.line}: assertion failed: {code} "
                                f"({self.target.name}: {state}, {shown})") from None
        except NameError as e:
            missing = getattr(e, "name", None) or str(e)
            raise ScriptFailure(f"line {ev.line}: cannot evaluate %{{ {code} }}%: {missing} is not "
                                f"available") from None
        except Exception as e:
            raise ScriptFailure(f"line {ev.line}: cannot evaluate %{{ {code} }}%: "
                                f"{type(e).__name__}: {e}") from None
