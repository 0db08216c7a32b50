"""The prompt of `minitcp shell`: Python's `cmd` with readline (history, tab completion), in a thread.

Why a thread: readline's line editing is a blocking call into the C library, which
Trio's own thread must never make (the stacks would stop while the learner types).
So the prompt runs in a worker thread (`trio.to_thread.run_sync(prompt.cmdloop)`)
and hands each line to Trio with `trio.from_thread.run(session.run, line)`: the
command runs in Trio's thread, where the stacks live, and the prompt waits for it.
Completion only reads names (the session's sockets, the knobs), never the stacks.
"""

from __future__ import annotations

import cmd

import trio

from minitcp.tcp.knobs import Knobs, sysctl_name

from .console import Console
from .session import OPTIONS, Session
from .words import HELP

PEER_CALLS = ("listen", "connect", "accept", "send", "recv", "shutdown", "close")
SOCKET_FIRST = ("accept", "send", "recv", "shutdown", "close", "dup", "setsockopt")


class Prompt(cmd.Cmd):
    def __init__(self, session: Session, console: Console) -> None:
        super().__init__()
        self.session, self.console = session, console
        self.prompt = console.prompt
        self.knob_names = sorted(sysctl_name(k) for k in Knobs().as_dict())

    # ------------------------------------------------------------------ the loop

    def preloop(self) -> None:
        self.console.prompting = True

    def precmd(self, line: str) -> str:
        self.console.prompting = False
        return line

    def postcmd(self, stop: bool, line: str) -> bool:
        self.console.prompting = not stop
        return stop

    def emptyline(self) -> bool:
        return False  # cmd's default repeats the last command: not for socket calls

    def onecmd(self, line: str) -> bool:
        name = line.strip().split(" ", 1)[0]
        if name in ("quit", "exit", "EOF"):
            if name == "EOF":
                self.console.say("")
            return True
        if line.strip():
            trio.from_thread.run(self.session.run, line)
        return False

    # ------------------------------------------------------------------ completion

    # Python's readline appends nothing to a completion (readline.c sets the append character
    # to NUL), so each candidate carries its own space, ready for the next word.

    def completenames(self, text: str, *ignored: object) -> list[str]:
        return [f"{name} " for name in HELP if name.startswith(text)]

    def completedefault(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        """Every argument (cmd finds no complete_NAME method, so it asks here)."""
        words = line[:begidx].split()
        return [f"{c} " for c in self._candidates(words) if c.startswith(text)]

    def _candidates(self, words: list[str]) -> list[str]:
        command, n = words[0], len(words)  # n: how many words come before the one being completed
        sockets = self.session.names()
        if command in SOCKET_FIRST and n == 1:
            return sockets
        if command == "setsockopt" and n == 2:
            return list(OPTIONS)
        if command == "shutdown" and n == 2:
            return ["wr", "rd", "rdwr"]
        if command == "sysctl":
            return ["-a", "-w", *self.knob_names]
        if command in ("drop", "delay") and n == 1:
            return ["next"]
        if command in ("drop", "delay") and n >= 2:
            return ["in", "out", "S", "F", "R", "P"]
        if command == "peer" and n == 1:
            return list(PEER_CALLS)
        if command == "peer" and n == 2 and words[1] in SOCKET_FIRST:
            return self.session.names("p")
        if command == "help" and n == 1:
            return list(HELP)
        return []
