"""A parser for the packetdrill language, as the FreeBSD TCP test suite and Linux's own
scripts (packetdrill's gtests/net) write it; docs/packetdrill-language.md lists what the
latter add (multi-line calls, msghdrs, ECN marks, Fast Open options, `-D NAME=VALUE`, ...).

A script is `--option=value` lines, then statements, one per line, each led
by a time:

    0.00 `sysctl -w net.inet.tcp.sack.enable=1`     a shell command
    +0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3  a system call and its result
    +0.10 < S 0:0(0) win 65535 <mss 1460,sackOK>     a packet the remote side sends
    +0.00 > S. 0:0(0) ack 1 <mss 1460,sackOK>        a packet minitcp must send
    +0.00 %{ assert tcpi_state == TCPI_SYN_SENT }%   a check on TCP_INFO

with `//` and `/* */` comments and `#ifdef NAME` / `#ifndef` / `#else` /
`#endif` blocks (packetdrill's scripts are run through the preprocessor with
-D defines). Times: `0.50` absolute, `+0.50` after the previous event, `*`
any time, `+0.9~+1.1` a range, `1.0...6.0` a blocking call from 1.0 to 6.0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .model import (
    BitOr,
    CodeEvent,
    CommandEvent,
    Event,
    IcmpEvent,
    Option,
    PacketEvent,
    ParseError,
    Script,
    Symbol,
    SyscallEvent,
    Time,
)
from .packetdrill_common import RUN_ALL_DEFINES

DEFAULT_DEFINES = frozenset({"STANDARD"})
"""`#ifdef` names defined unless told otherwise (see docs/conformance.md: STANDARD is the RFC
behaviour the suite expects of any stack, FreeBSD its own deviations)."""

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"
_TIME = re.compile(
    rf"""^\s*(?:
        (?P<any>\*)
      | (?P<rel>\+)?\s*(?P<val>{_NUM})
        (?:\s*(?P<op>~|\.\.\.)\s*(?P<erel>\+)?\s*(?P<eval>{_NUM}))?
    )(?=\s|$|[<>`%a-z])""",
    re.VERBOSE,
)
_OPTION_LINE = re.compile(r"^--([A-Za-z0-9_]+)(?:=(.*))?$")
_SEQ = re.compile(r"^(?:(?P<wild>\.\.\.)|(?P<start>\d+)(?::(?P<end>\d+))?)\((?P<len>\d+)\)(?P<abs>!)?$")
_FLAGS = re.compile(r"^(?:[SFRPUEW.]+|-)$")
# The IP ECN field (RFC 3168 section 5) written before a packet's flags: `< [ect0] P. ...`.
_ECN_MARK = re.compile(r"^\[\s*(ect0|ect1|ect01|ce|noecn)\s*\]")


def parse_file(path: str, defines: Iterable[str] = DEFAULT_DEFINES) -> Script:
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse_script(f.read(), path, defines)


def parse_script(text: str, path: str = "<script>", defines: Iterable[str] = DEFAULT_DEFINES) -> Script:
    """Parse a whole script; raises ParseError on the first statement it cannot read.

    `defines` are names `#ifdef` sees, and `NAME=VALUE` pairs (packetdrill's `-D`): such a
    NAME, written as a word in a packet or a system call, reads as VALUE (packetdrill's lexer).
    A script that sources gtests/net's defaults.sh also gets run_all.py's names
    (packetdrill_common.RUN_ALL_DEFINES), as packetdrill does when run_all.py runs it.
    """
    options: dict[str, str] = {}
    events: list[Event] = []
    init = cleanup = None
    defines = list(defines)
    if "defaults.sh" in text:
        # A script of packetdrill's gtests/net: run_all.py's -D names, unless given otherwise.
        given = {d.partition("=")[0] for d in defines}
        defines += [f"{name}={value}" for name, value in RUN_ALL_DEFINES if name not in given]
    names = frozenset(d.partition("=")[0] for d in defines)
    values = {d.partition("=")[0]: d.partition("=")[2] for d in defines if "=" in d}
    statements = list(_statements(_strip_comments(text), names))
    for i, (line, stmt) in enumerate(statements):
        m = _OPTION_LINE.match(stmt)
        if m and not events:
            options[m.group(1)] = (m.group(2) or "").strip()
            continue
        if stmt.startswith("`") and (not events or i == len(statements) - 1):
            # packetdrill's grammar: an untimed command may open the script (after the
            # options) and another close it; they run outside the script's time.
            if len(stmt) < 2 or not stmt.endswith("`"):
                raise ParseError(line, "unterminated backtick command")
            command = _shell_lines(stmt[1:-1])
            if events:
                cleanup = command
            else:
                init = command
            continue
        events.append(parse_statement(_substitute(stmt, values), line))
    return Script(path, options, events, init, cleanup)


# ---------------------------------------------------------------------- text to statements


def _strip_comments(text: str) -> str:
    """Blank out // and /* */ comments (newlines kept, so line numbers hold).

    Backtick commands and %{ }% code are left alone: `//` may be part of them.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "`":
            j = text.find("`", i + 1)
            j = n if j < 0 else j + 1
            out.append(text[i:j])
            i = j
        elif text.startswith("%{", i):
            j = text.find("}%", i + 2)
            j = n if j < 0 else j + 2
            out.append(text[i:j])
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _statements(text: str, defines: frozenset[str]) -> Iterable[tuple[int, str]]:
    """(line number, statement) pairs, with #ifdef blocks resolved, and %{ }% and a backtick
    command that run over several lines joined."""
    active: list[bool] = []  # one entry per open #if: whether its current branch is taken
    pending: tuple[int, str] | None = None  # a statement still open: (first line, text so far)
    kind = ""  # what the open statement is: "shell" (a backtick command), "code" (%{ }%), "call"
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if pending is not None:
            if kind == "call":
                pending = (pending[0], pending[1] + " " + stripped)
                done = _open_brackets(pending[1]) <= 0
            elif kind == "shell":
                # A shell line continued with a backslash goes on; a newline ends a command.
                joiner = " " if pending[1].endswith("\\") else "\n"
                pending = (pending[0], pending[1].removesuffix("\\").rstrip() + joiner + stripped)
                done = pending[1].count("`") % 2 == 0
            else:
                pending = (pending[0], pending[1] + "\n" + raw)
                done = "}%" in raw
            if done:
                yield pending
                pending = None
            continue
        if stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            if word in ("#ifdef", "#ifndef"):
                taken = (rest.strip() in defines) == (word == "#ifdef")
                active.append(taken)
            elif word == "#else":
                if not active:
                    raise ParseError(number, "#else without #ifdef")
                active[-1] = not active[-1]
            elif word == "#endif":
                if not active:
                    raise ParseError(number, "#endif without #ifdef")
                active.pop()
            else:
                raise ParseError(number, f"unknown preprocessor line {stripped!r}")
            continue
        if not all(active) or not stripped:
            continue
        if "%{" in stripped and "}%" not in stripped:
            pending, kind = (number, stripped), "code"
        elif stripped.count("`") % 2:
            pending, kind = (number, stripped), "shell"
        elif "`" not in stripped and "%{" not in stripped and _open_brackets(stripped) > 0:
            # packetdrill's lexer ignores newlines: a system call's arguments (a msghdr, a pollfd
            # list) may run over several lines, until its brackets close.
            pending, kind = (number, stripped), "call"
        else:
            yield number, stripped
    if active:
        raise ParseError(number, "#ifdef without #endif")
    if pending is not None:
        raise ParseError(pending[0], {"shell": "unterminated backtick command", "code": "%{ without }%",
                                      "call": "unclosed bracket"}[kind])


def _open_brackets(text: str) -> int:
    """How many ( [ { are still open at the end of `text` (quoted strings skipped)."""
    depth = 0
    for part in re.split(r'"(?:[^"\\]|\\.)*"', text):
        depth += sum(part.count(c) for c in "([{") - sum(part.count(c) for c in ")]}")
    return depth


def _substitute(stmt: str, values: dict[str, str]) -> str:
    """`-D NAME=VALUE` applied to a packet or a call (not to a command or a snippet)."""
    if not values or stmt.rstrip().endswith(("`", "}%")):
        return stmt
    return re.sub(r"\b[A-Za-z_]\w*\b", lambda m: values.get(m.group(0), m.group(0)), stmt)


# Words that begin a command on a new line of a backtick command (besides any path, `a/b`).
_SHELL_COMMANDS = frozenset({"sysctl", "ethtool", "tc", "ip", "echo", "nstat", "dd", "rm", "sleep"})


def _shell_lines(text: str) -> str:
    """A backtick command with its blanks collapsed and one command a line.

    A line break separates two commands, as in the shell, when the next line begins one (a
    path such as `../common/defaults.sh`, or a known command); inside quotes, or before a line
    that only goes on with arguments (`net.inet.tcp.rfc1323=1`), the lines are one command.
    """
    out = ""
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        first = line.split()[0]
        quoted = out.count("'") % 2 or out.count('"') % 2
        new_command = "/" in first or first in _SHELL_COMMANDS
        out = line if not out else out + ("\n" if new_command and not quoted else " ") + line
    return out


# ---------------------------------------------------------------------- statements


def parse_time(text: str, line: int) -> tuple[Time, str]:
    m = _TIME.match(text)
    if not m:
        raise ParseError(line, f"expected a time at the start of {text!r}")
    rest = text[m.end():].strip()
    if m.group("any"):
        return Time(any=True), rest
    time = Time(value=float(m.group("val")), relative=bool(m.group("rel")))
    op = m.group("op")
    if op == "~":
        return Time(time.value, time.relative, upper=float(m.group("eval")),
                    upper_relative=bool(m.group("erel"))), rest
    if op == "...":
        return Time(time.value, time.relative, end=float(m.group("eval")),
                    end_relative=bool(m.group("erel"))), rest
    return time, rest


def parse_statement(stmt: str, line: int = 0) -> Event:
    time, rest = parse_time(stmt, line)
    if not rest:
        raise ParseError(line, "a time with no event")
    if rest[0] in "<>":
        return parse_packet(rest, line, time, stmt)
    if rest[0] == "`":
        if not rest.endswith("`") or len(rest) < 2:
            raise ParseError(line, "unterminated backtick command")
        return CommandEvent(line, time, stmt, command=_shell_lines(rest[1:-1]))
    if rest.startswith("%{"):
        if not rest.endswith("}%"):
            raise ParseError(line, "code snippet must end with }%")
        return CodeEvent(line, time, stmt, code=rest[2:-2].strip())
    return parse_syscall(rest, line, time, stmt)


# ---------------------------------------------------------------------- packets


# packetdrill's names (icmp_packet.c): ICMPv4 types, and the codes of "unreachable" (RFC 1812).
_ICMP_TYPES = {"echo_reply": 0, "unreachable": 3, "source_quench": 4, "redirect": 5, "echo_request": 8,
               "time_exceeded": 11, "parameter_problem": 12}
_UNREACH_CODES = {name: code for code, name in enumerate((
    "net_unreachable", "host_unreachable", "protocol_unreachable", "port_unreachable", "frag_needed",
    "source_route_failed", "net_unknown", "host_unknown", "source_host_isolated", "net_prohibited",
    "host_prohibited", "net_unreachable_for_tos", "host_unreachable_for_tos", "packet_filtered",
    "precedence_violation", "precedence_cutoff"))}
# Time exceeded (RFC 792): in transit, or while reassembling fragments.
_TIME_EXCEEDED_CODES = {"ttl_exceeded_in_transit": 0, "frag_reassembly_time_exceeded": 1}
_CODES = {3: _UNREACH_CODES, 11: _TIME_EXCEEDED_CODES}
_ECHOED = re.compile(r"\[\s*(?P<start>\d+):(?P<end>\d+)\((?P<len>\d+)\)\s*\]")


# packetdrill's ICMPv6 names (icmp_packet.c, RFC 4443) that are not ICMPv4 ones: an IPv6 run
# plays them (packets.py), an IPv4 run cannot.
_ICMPV6_TYPES = frozenset({"packet_too_big"})
_ICMPV6_CODES = frozenset({"no_route", "admin_prohibited", "not_neighbour", "address_unreachable",
                           "exceeded_hop_limit", "exceeded_frag_time", "header_field", "unknown_next_header",
                           "unknown_option"})


def _deferred_name(name: str) -> bool:
    """A name left for the run to read or refuse rather than the parser: an ICMPv6 type or code,
    or an upper-case macro (`CODE`) that the script's runner gives with `-D CODE=...`
    (packetdrill's gtests do)."""
    if name in _ICMPV6_TYPES or name in _ICMPV6_CODES:
        return True
    return re.fullmatch(r"[A-Z][A-Z0-9_]*", name) is not None


def parse_icmp(text: str, line: int, time: Time, stmt: str) -> IcmpEvent:
    """An inbound ICMP error; the quoted segment `[start:end(len)]` may come before or after."""
    if text[0] != "<":
        raise ParseError(line, "only inbound ICMP packets (<) are supported")
    rest = text[1:]
    seq = None
    length = 0
    m = _ECHOED.search(rest)
    if m:
        seq, length = int(m.group("start")), int(m.group("len"))
        rest = rest[:m.start()] + rest[m.end():]
    words = rest.split()
    if not words or words[0] != "icmp" or len(words) < 2:
        raise ParseError(line, "an ICMP packet is `icmp TYPE [CODE] [mtu N]`")
    type_name, args = words[1], words[2:]
    mtu = None
    if len(args) >= 2 and args[-2] == "mtu":
        mtu = int(args[-1])
        args = args[:-2]
    m_type = re.fullmatch(r"type_(\d+)", type_name)
    icmp_type = int(m_type.group(1)) if m_type else _ICMP_TYPES.get(type_name)
    if len(args) > 1 or (icmp_type is None and not _deferred_name(type_name)):
        raise ParseError(line, f"ICMP type {type_name!r} not understood")
    unknown = None if icmp_type is not None else type_name
    code = 0
    if args:
        m_code = re.fullmatch(r"code_(\d+)", args[0])
        code_value = int(m_code.group(1)) if m_code else _CODES.get(icmp_type or 0, {}).get(args[0])
        if code_value is None and not _deferred_name(args[0]):
            raise ParseError(line, f"ICMP code {args[0]!r} not understood")
        if code_value is None:
            unknown = unknown or args[0]
        else:
            code = code_value
    return IcmpEvent(line, time, stmt, icmp_type=icmp_type if icmp_type is not None else -1, code=code,
                     seq=seq, length=length, mtu=mtu, unknown=unknown, type_name=type_name,
                     code_name=args[0] if args else "")


def parse_packet(text: str, line: int, time: Time, stmt: str) -> PacketEvent | IcmpEvent:
    if re.search(r"(?:^|[\s\]])icmp\s", text):
        return parse_icmp(text, line, time, stmt)
    direction = text[0]
    rest = text[1:].strip()
    ecn = None
    m_ecn = _ECN_MARK.match(rest)
    if m_ecn:  # packetdrill's IP ECN field, `[ect0]` (parser.y ip_ecn)
        ecn = m_ecn.group(1)
        rest = rest[m_ecn.end():].strip()
    tos = ttl = None
    if rest.startswith("("):
        close = rest.find(")")
        if close < 0:
            raise ParseError(line, "unclosed ( in IP fields")
        for field in rest[1:close].split(","):
            words = field.split()
            if len(words) != 2:
                raise ParseError(line, f"IP field {field.strip()!r} not understood")
            name, value = words
            if name == "tos":
                tos = int(value, 0)
            elif name == "ttl":
                ttl = int(value, 0)
            else:
                raise ParseError(line, f"unsupported IP field {name!r}")
        rest = rest[close + 1:].strip()
    udp = None
    slash = rest.rfind("/udp(")
    if slash >= 0:
        m = re.match(r"/udp\(\s*(\d+)\s*>\s*(\d+)\s*\)\s*$", rest[slash:])
        if not m:
            raise ParseError(line, "malformed /udp(...) encapsulation")
        udp = (int(m.group(1)), int(m.group(2)))
        rest = rest[:slash].strip()
    options = None
    lt = rest.find("<")
    if lt >= 0:
        if not rest.endswith(">"):
            raise ParseError(line, "TCP options must end the line with >")
        inner = rest[lt + 1:-1].strip()
        options = ... if inner == "..." else parse_options(inner, line)  # <...>: any options
        rest = rest[:lt].strip()
    words = rest.split()
    if len(words) < 2:
        raise ParseError(line, "a packet needs flags and a sequence range")
    flags, seqtext, *more = words
    if not _FLAGS.match(flags):
        raise ParseError(line, f"bad TCP flags {flags!r}")
    if flags == "-":  # packetdrill's spelling of a segment with no flag set
        flags = ""
    m = _SEQ.match(seqtext)
    if not m:
        raise ParseError(line, f"bad sequence range {seqtext!r} (want start:end(len))")
    length = int(m.group("len"))
    if m.group("wild"):
        seq = end = None
    else:
        seq = int(m.group("start"))
        end = int(m.group("end")) if m.group("end") is not None else seq + length
        if end - seq != length:
            raise ParseError(line, f"sequence range {seqtext} does not match its length")
    ack: int | None = None
    window: int | None = None
    urgent: int | None = None
    i = 0
    while i < len(more):
        word = more[i]
        if word in ("ack", "win", "urg") and i + 1 < len(more):
            number = int(more[i + 1], 0)
            if word == "ack":
                ack = number
            elif word == "win":
                window = number
            else:
                urgent = number
            i += 2
        else:
            raise ParseError(line, f"unexpected {word!r} in packet")
    return PacketEvent(line, time, stmt, direction=direction, flags=flags, seq=seq, end=end, length=length,
                       seq_absolute=bool(m.group("abs")), ack=ack, window=window, options=options,
                       tos=tos, ttl=ttl, udp=udp, ecn=ecn, urgent=urgent)


def parse_options(text: str, line: int) -> tuple[Option, ...]:
    options = []
    for item in text.split(","):
        words = item.split()
        if not words:
            raise ParseError(line, "empty TCP option")
        kind = words[0]
        try:
            if kind in ("nop", "eol", "sackOK") and len(words) == 1:
                options.append(Option(kind))
            elif kind in ("mss", "wscale") and len(words) == 2:
                options.append(Option(kind, int(words[1], 0)))
            elif kind == "TS" and len(words) == 5 and words[1] == "val" and words[3] == "ecr":
                options.append(Option("TS", (int(words[2], 0), int(words[4], 0))))
            elif kind in ("FO", "FOEXP") and len(words) <= 2:
                # TCP Fast Open (RFC 7413 section 4.1.1): the cookie in hex, none (a cookie
                # request), or for FOEXP (the experimental option 254) no value at all.
                options.append(Option(kind, words[1] if len(words) == 2 else None))
            elif kind == "md5" and len(words) == 2:
                options.append(Option("md5", words[1]))  # TCP-MD5 (RFC 2385): the digest
            elif kind in ("ECN", "AccECN") or kind.startswith("ae"):
                options.append(Option("AccECN", " ".join(words[1:])))  # AccECN counters
            elif kind == "sack" and len(words) >= 2:
                blocks = []
                for block in words[1:]:
                    left, _, right = block.partition(":")
                    blocks.append((int(left), int(right)))
                options.append(Option("sack", tuple(blocks)))
            else:
                raise ValueError
        except ValueError:
            raise ParseError(line, f"TCP option {item.strip()!r} not understood") from None
    return tuple(options)


# ---------------------------------------------------------------------- system calls

_TOKEN = re.compile(r"""\s*(?:
    (?P<ellipsis>\.\.\.)
  | (?P<num>-?0x[0-9a-fA-F]+|-?\d+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<punct>[\[\](){},=|])
)""", re.VERBOSE)


def _tokens(text: str, line: int) -> list[tuple[str, str]]:
    out = []
    i = 0
    text = text.rstrip()
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m or m.end() == i:
            raise ParseError(line, f"cannot read {text[i:]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        i = m.end()
        while i < len(text) and text[i].isspace():
            i += 1
    return out


class _Args:
    def __init__(self, tokens: list[tuple[str, str]], line: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.line = line

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ParseError(self.line, f"expected {value or 'more'}, found {tok[1] if tok else 'the end'}")
        self.i += 1
        return tok

    def expr(self) -> object:
        terms = [self.atom()]
        while (tok := self.peek()) is not None and tok[1] == "|":
            self.take("|")
            terms.append(self.atom())
        return terms[0] if len(terms) == 1 else BitOr(tuple(terms))

    def atom(self) -> object:
        kind, value = self.take()
        if kind == "ellipsis":
            return ...
        if kind == "num":
            return int(value, 0)
        if kind == "name":
            return Symbol(value)
        if kind == "str":
            return value[1:-1]
        if value == "[":
            items = []
            while (tok := self.peek()) is not None and tok[1] != "]":
                items.append(self.expr())
                if (tok := self.peek()) is not None and tok[1] == ",":
                    self.take(",")
            self.take("]")
            return items
        if value == "{":
            fields: dict[str, object] = {}
            after = self.tokens[self.i + 1][1] if self.i + 1 < len(self.tokens) else ""
            if after not in ("=", "("):
                # An iovec, `{..., 1000}`: its base and its length (parser.y iovec_expr).
                fields["iov_base"] = self.expr()
                self.take(",")
                fields["iov_len"] = self.expr()
                self.take("}")
                return fields
            while (tok := self.peek()) is not None and tok[1] != "}":
                name = self.take()[1]
                if (tok := self.peek()) is not None and tok[1] == "(":
                    # A msghdr's `msg_name(...)=...` and `msg_iov(N)=[...]`: the length in
                    # parentheses is the count of what follows (parser.y msghdr_expr).
                    self.take("(")
                    fields[f"{name}_len"] = self.expr()
                    self.take(")")
                self.take("=")
                fields[name] = self.expr()
                if (tok := self.peek()) is not None and tok[1] == ",":
                    self.take(",")
            self.take("}")
            return fields
        raise ParseError(self.line, f"unexpected {value!r} in system call arguments")


_RESULT = re.compile(r"^=\s*(?P<res>-?0x[0-9a-fA-F]+|-?\d+|[A-Za-z_]\w*|\.\.\.)"
                     r"\s*(?P<errno>[A-Z][A-Z0-9_]*)?\s*(?P<comment>\(.*\))?$")


def parse_syscall(text: str, line: int, time: Time, stmt: str) -> SyscallEvent:
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", text)
    if not m:
        raise ParseError(line, f"not a packet, command or system call: {text!r}")
    name = m.group(1)
    depth, i = 1, m.end()
    while i < len(text) and depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    if depth:
        raise ParseError(line, f"unclosed ( in {name}()")
    p = _Args(_tokens(text[m.end():i - 1], line), line)
    args = []
    while p.peek() is not None:
        args.append(p.expr())
        if p.peek() is not None:
            p.take(",")
    r = _RESULT.match(text[i:].strip())
    if not r:
        raise ParseError(line, f"expected '= result [ERRNO] [(comment)]' after {name}(), found {text[i:]!r}")
    result = p.__class__(_tokens(r.group("res"), line), line).expr()
    return SyscallEvent(line, time, stmt, name=name, args=tuple(args), result=result, errno=r.group("errno"))
