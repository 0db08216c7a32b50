"""The parsed form of a packetdrill script: options, then one event per statement.

Times are kept as written (absolute, relative to the previous event, `*` or a
range); the runner resolves them while it plays the script, because after a
`*` or a range event packetdrill measures the next relative time from when
that event really happened.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any


class ParseError(ValueError):
    """A statement the parser does not understand; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclasses.dataclass(frozen=True)
class Time:
    """When an event happens.

    `value` (seconds) is absolute, or relative to the previous event when
    `relative`. `any` is packetdrill's `*` (whenever it comes). `upper` makes a
    range `a~b` (the event may happen anywhere from a to b). `end` is the
    return time of a blocking system call written `a...b`; a relative end is
    measured from the call's start.
    """

    value: float = 0.0
    relative: bool = False
    any: bool = False
    upper: float | None = None
    upper_relative: bool = False
    end: float | None = None
    end_relative: bool = False


@dataclasses.dataclass(frozen=True)
class Symbol:
    """A name in a system call's arguments or result (`SOL_SOCKET`, `O_NONBLOCK`, `ECONNRESET`)."""

    name: str


@dataclasses.dataclass(frozen=True)
class BitOr:
    """`A | B | ...`."""

    terms: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Option:
    """One TCP option as written between `<` and `>`.

    kind: mss, wscale, sackOK, TS, sack, nop, eol, FO, FOEXP, md5 or AccECN.
    For TS `value` is (val, ecr); for sack a tuple of (left, right) pairs; for
    FO and FOEXP the cookie as written (hex or a -D name), or None; for md5 the
    digest as written.
    """

    kind: str
    value: Any = None


@dataclasses.dataclass
class Event:
    line: int
    time: Time
    text: str


@dataclasses.dataclass
class PacketEvent(Event):
    """`<` (inbound: the runner sends it) or `>` (outbound: minitcp must send it).

    `seq` is None for a wildcard (`...`); `end - seq == length` otherwise.
    `ack`, `window` and `options` are None when not written; `options` is
    Ellipsis for `<...>` (any options).
    """

    direction: str = "<"
    flags: str = ""
    seq: int | None = 0
    end: int | None = 0
    length: int = 0
    seq_absolute: bool = False
    ack: int | None = None
    window: int | None = None
    options: tuple[Option, ...] | types.EllipsisType | None = None
    tos: int | None = None
    ttl: int | None = None
    udp: tuple[int, int] | None = None
    ecn: str | None = None  # the IP ECN field when written: ect0, ect1, ect01, ce or noecn
    urgent: int | None = None  # `urg N`: the urgent pointer


@dataclasses.dataclass
class IcmpEvent(Event):
    """`< [seq:end(len)] icmp TYPE [CODE] [mtu N]`: an ICMP error the runner sends, quoting the IP
    header and the first 8 bytes of a TCP segment minitcp sent, with sequence number `seq`
    (relative to minitcp's ISN; None when no `[...]` is written: packetdrill then quotes 0)."""

    icmp_type: int = 0
    code: int = 0
    seq: int | None = None
    length: int = 0
    mtu: int | None = None
    unknown: str | None = None  # a type or code name packetdrill would not know here
    # The type and code as written ("" for no code): an IPv6 run reads them as ICMPv6's names.
    type_name: str = ""
    code_name: str = ""


@dataclasses.dataclass
class SyscallEvent(Event):
    """`name(args) = result [ERRNO] [(comment)]`; `errno` is the name, or None."""

    name: str = ""
    args: tuple[Any, ...] = ()
    result: Any = 0
    errno: str | None = None


@dataclasses.dataclass
class CommandEvent(Event):
    """A backtick shell command (`sysctl -w ...`, `sockstat ... | grep ...`)."""

    command: str = ""


@dataclasses.dataclass
class CodeEvent(Event):
    """A `%{ python }%` snippet (packetdrill runs them against TCP_INFO)."""

    code: str = ""


@dataclasses.dataclass
class Script:
    path: str
    options: dict[str, str]
    events: list[Event]
    # packetdrill's untimed shell commands before the first and after the last event (its
    # grammar's init and cleanup commands): the FreeBSD scripts load kernel modules there.
    init_command: str | None = None
    cleanup_command: str | None = None

    @property
    def tolerance(self) -> float:
        """--tolerance_usecs in seconds (packetdrill's default is 4 ms)."""
        return int(self.options.get("tolerance_usecs", "4000")) / 1e6

    @property
    def gtests_net(self) -> bool:
        """A script of packetdrill's gtests/net (Linux's own tests): it sources common/defaults.sh."""
        return self.init_command is not None and "defaults.sh" in self.init_command

    @property
    def tolerance_percent(self) -> float:
        """--tolerance_percent: packetdrill's default is 12.5 (config.c). The FreeBSD suite's
        results are measured with the fixed tolerance alone, so there the default is 0."""
        return float(self.options.get("tolerance_percent", "12.5" if self.gtests_net else "0"))
