"""The packetdrill parser: times, packets, options, system calls, comments, #ifdef, errors."""

from __future__ import annotations

import os

import pytest

from minitcp.conformance.model import (
    BitOr,
    CodeEvent,
    CommandEvent,
    IcmpEvent,
    Option,
    PacketEvent,
    ParseError,
    Symbol,
    SyscallEvent,
    Time,
)
from minitcp.conformance.parser import parse_file, parse_script, parse_statement, parse_time
from minitcp.conformance.symbols import resolve

from ..helpers.shared import FREEBSD_SUITE

SUITE = FREEBSD_SUITE


# ---------------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("0.00 x", Time(0.0)),
        ("1.5 x", Time(1.5)),
        ("+0.10 x", Time(0.1, relative=True)),
        ("+ 0.00 x", Time(0.0, relative=True)),
        ("+.01 x", Time(0.01, relative=True)),
        ("+0 x", Time(0.0, relative=True)),
        ("* x", Time(any=True)),
        ("+0.9~+1.1 x", Time(0.9, relative=True, upper=1.1, upper_relative=True)),
        ("1.0~2.0 x", Time(1.0, upper=2.0)),
        ("1.00...6.00 x", Time(1.0, end=6.0)),
        ("+0...+0.5 x", Time(0.0, relative=True, end=0.5, end_relative=True)),
    ],
)
def test_times(text: str, time: Time) -> None:
    parsed, rest = parse_time(text, 1)
    assert parsed == time
    assert rest == "x"


def test_a_statement_needs_a_time() -> None:
    with pytest.raises(ParseError, match="expected a time"):
        parse_statement("socket(..., SOCK_STREAM, IPPROTO_TCP) = 3", 7)


# ---------------------------------------------------------------------- packets


def test_inbound_syn_with_options() -> None:
    ev = parse_statement("+0.00 < S   0:0(0) win 65535 <mss 1460,sackOK,eol,eol>", 3)
    assert isinstance(ev, PacketEvent)
    assert (ev.direction, ev.flags, ev.seq, ev.end, ev.length) == ("<", "S", 0, 0, 0)
    assert ev.window == 65535 and ev.ack is None
    assert ev.options == (Option("mss", 1460), Option("sackOK"), Option("eol"), Option("eol"))
    assert ev.line == 3


def test_outbound_data_with_ack_and_sack_blocks() -> None:
    ev = parse_statement("+0.00 >  .   1:1(0)     ack 100 win 65535 <nop,nop,sack 50:75 600:700 400:500>")
    assert isinstance(ev, PacketEvent)
    assert (ev.direction, ev.flags, ev.ack) == (">", ".", 100)
    assert ev.options == (Option("nop"), Option("nop"), Option("sack", ((50, 75), (600, 700), (400, 500))))


def test_timestamps_wscale_and_spaces_in_options() -> None:
    ev = parse_statement("+0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val  100 ecr 0>")
    assert isinstance(ev, PacketEvent)
    assert Option("wscale", 6) in ev.options  # type: ignore[operator]
    assert Option("TS", (100, 0)) in ev.options  # type: ignore[operator]
    ev = parse_statement("+0 < . 1:1(0) ack 2921 win 32767 <sack 4381:5841, nop, nop>")
    assert ev.options == (Option("sack", ((4381, 5841),)), Option("nop"), Option("nop"))  # type: ignore[union-attr]


def test_data_range_ecn_flags_and_payload_length() -> None:
    ev = parse_statement("+0.00 > P. 1461:2921(1460) ack 1 win 65535")
    assert isinstance(ev, PacketEvent)
    assert (ev.flags, ev.seq, ev.end, ev.length) == ("P.", 1461, 2921, 1460)
    ev = parse_statement("+0.00 > SEW 0:0(0) win 65535")
    assert ev.flags == "SEW"  # type: ignore[union-attr]
    ev = parse_statement("+0.10 < SF 0:3(3) win 32767")
    assert (ev.flags, ev.length) == ("SF", 3)  # type: ignore[union-attr]


def test_absolute_and_wildcard_sequence_numbers() -> None:
    ev = parse_statement("+0.00 > R. 0:0(0)! ack 1 win 0")
    assert isinstance(ev, PacketEvent) and ev.seq_absolute and ev.seq == 0
    ev = parse_statement("+0.00 > S. ...(0) ack 65537 win 65535 <mss 1460>")
    assert isinstance(ev, PacketEvent) and ev.seq is None and ev.length == 0


def test_flags_without_ack_keep_the_ack_number() -> None:
    # packetdrill fills the acknowledgement field even when the ACK bit is off.
    ev = parse_statement("+0.10 < F  3:3(0) ack 2 win 32767")
    assert isinstance(ev, PacketEvent) and ev.flags == "F" and ev.ack == 2


def test_ip_fields_udp_encapsulation_and_any_options() -> None:
    ev = parse_statement("+0.00 > (tos 0x20) R 1:1(0) win 0/udp(9811 > 1)")
    assert isinstance(ev, PacketEvent)
    assert ev.tos == 0x20 and ev.udp == (9811, 1)
    ev = parse_statement("+0.00 < (ttl 3) S 0:0(0) ack 1 win 32767 <mss 1460>")
    assert ev.ttl == 3  # type: ignore[union-attr]
    ev = parse_statement("*      > S  0:0(0) win 65535 <...>")
    assert ev.options is ... and ev.time == Time(any=True)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("+0 < X 0:0(0) win 1", "bad TCP flags"),
        ("+0 < S 0:5(3) win 1", "does not match its length"),
        ("+0 < S 0:0 win 1", "bad sequence range"),
        ("+0 < S 0:0(0) win 1 <mss>", "not understood"),
        ("+0 < S 0:0(0) window 1", "unexpected 'window'"),
        ("+0 < S 0:0(0) win 1 <mss 1460", "must end the line"),
    ],
)
def test_bad_packets(line: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_statement(line, 9)


# ---------------------------------------------------------------------- system calls


def test_syscall_with_errno_and_comment() -> None:
    ev = parse_statement("+0.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)")
    assert isinstance(ev, SyscallEvent)
    assert (ev.name, ev.args, ev.result, ev.errno) == ("connect", (3, ..., ...), -1, "EINPROGRESS")


def test_syscall_arrays_or_and_hex_results() -> None:
    ev = parse_statement("+0.00 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0")
    assert isinstance(ev, SyscallEvent)
    assert ev.args == (3, Symbol("F_SETFL"), BitOr((Symbol("O_RDWR"), Symbol("O_NONBLOCK"))))
    ev = parse_statement("+0.00 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)")
    assert ev.result == 2 and ev.errno is None  # type: ignore[union-attr]
    ev = parse_statement("+0.00 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0")
    assert ev.args[3] == [Symbol("ECONNRESET")] and ev.args[4] == [4]  # type: ignore[union-attr]
    ev = parse_statement("+0.00 setsockopt(3, IPPROTO_TCP, TCP_KEEPIDLE,[1], 4) = 0")
    assert ev.args[3] == [1]  # type: ignore[union-attr]
    ev = parse_statement("+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0")
    assert ev.args[3] == {"onoff": 1, "linger": 0}  # type: ignore[union-attr]


def test_symbols_resolve_to_linux_values() -> None:
    import errno
    import os as _os
    import socket

    ev = parse_statement("+0.00 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0")
    assert resolve(ev.args[2]) == _os.O_RDWR | _os.O_NONBLOCK  # type: ignore[union-attr]
    assert resolve(Symbol("SOL_SOCKET")) == socket.SOL_SOCKET
    assert resolve([Symbol("ECONNREFUSED")]) == [errno.ECONNREFUSED]
    # A FreeBSD-only option becomes a number Linux does not know (so minitcp answers ENOPROTOOPT).
    assert resolve(Symbol("TCP_KEEPINIT")) > 0x7F000000


def test_bad_syscalls() -> None:
    with pytest.raises(ParseError, match="expected '= result"):
        parse_statement("+0 close(3)", 4)
    with pytest.raises(ParseError, match="unclosed"):
        parse_statement("+0 close(3 = 0", 4)


# ---------------------------------------------------------------------- whole scripts


SCRIPT = """\
/*
 * A header comment
 * over several lines.
 */
--ip_version=ipv4
--tolerance_usecs=75000

// a comment line
 0.00 `sysctl -w net.inet.tcp.sack.enable=1`   // trailing comment
+0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
#ifdef STANDARD
+0.00 close(3) = 0
#else
+0.00 close(3) = -1 EBADF (Bad file descriptor)
#endif
#ifndef FreeBSD
+0.00 %{ assert tcpi_state == TCPI_CLOSED }%
#endif
+0.00 %{
assert tcpi_options == 0
}%
"""


def test_script_options_comments_ifdef_and_code() -> None:
    script = parse_script(SCRIPT, "x.pkt")
    assert script.options == {"ip_version": "ipv4", "tolerance_usecs": "75000"}
    assert script.tolerance == pytest.approx(0.075)
    kinds = [type(e) for e in script.events]
    assert kinds == [CommandEvent, SyscallEvent, SyscallEvent, CodeEvent, CodeEvent]
    assert script.events[0].command == "sysctl -w net.inet.tcp.sack.enable=1"  # type: ignore[attr-defined]
    assert [e.line for e in script.events] == [9, 10, 12, 17, 19]  # line numbers survive comments
    assert script.events[2].result == 0  # type: ignore[attr-defined]
    assert script.events[4].code == "assert tcpi_options == 0"  # type: ignore[attr-defined]


def test_defines_choose_the_branch() -> None:
    script = parse_script(SCRIPT, "x.pkt", defines={"FreeBSD"})
    close = script.events[2]
    assert isinstance(close, SyscallEvent) and close.errno == "EBADF"
    assert not any(isinstance(e, CodeEvent) and "TCPI_CLOSED" in e.code for e in script.events)


def test_tolerance_default_is_packetdrills() -> None:
    assert parse_script("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n").tolerance == pytest.approx(0.004)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#endif\n", "#endif without #ifdef"),
        ("#ifdef X\n", "#ifdef without #endif"),
        ("#include <x>\n", "unknown preprocessor"),
        ("0 `sysctl -w a=1\n", "unterminated backtick"),
        ("0 %{ assert 1\n", "%{ without }%"),
        ("0 frobnicate\n", "not a packet, command or system call"),
    ],
)
def test_script_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_script(text)


@pytest.mark.skipif(not os.path.isdir(SUITE), reason=f"the shared test suite is not at {SUITE}")
def test_every_script_of_the_shared_suite_parses() -> None:
    count = 0
    for root, _, files in os.walk(SUITE):
        for name in files:
            if name.endswith(".pkt"):
                script = parse_file(os.path.join(root, name))
                assert script.events, name
                count += 1
    assert count == 400


# ---------------------------------------------------------------------- untimed and multi-line commands


def test_untimed_init_and_cleanup_commands_and_a_command_over_two_lines() -> None:
    # As packetdrill's grammar has it: options, an init command, events, a cleanup command.
    script = parse_script("""--tolerance_usecs=50000
      `kldload tcpmd5; echo 'add 192.0.2.1 tcp 0x1000 ;
             add 192.0.2.2 tcp 0x1001 ;' | setkey -c`
0.00 `sysctl -w net.inet.tcp.sack.enable=1
      net.inet.tcp.rfc1323=1`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
      `setkey -F`
""")
    assert script.options == {"tolerance_usecs": "50000"}
    assert script.init_command == ("kldload tcpmd5; echo 'add 192.0.2.1 tcp 0x1000 ; "
                                   "add 192.0.2.2 tcp 0x1001 ;' | setkey -c")
    assert script.cleanup_command == "setkey -F"
    first, second = script.events
    assert isinstance(first, CommandEvent) and first.line == 4
    assert first.command == "sysctl -w net.inet.tcp.sack.enable=1 net.inet.tcp.rfc1323=1"
    assert isinstance(second, SyscallEvent)


def test_an_untimed_command_between_events_and_an_unterminated_one_are_errors() -> None:
    with pytest.raises(ParseError, match="expected a time"):
        parse_script("0 `true`\n`sysctl -a`\n+0 `true`\n")
    with pytest.raises(ParseError, match="line 2: unterminated backtick command"):
        parse_script("0 `true`\n+0 `sysctl -w a=1\n")


# ---------------------------------------------------------------------- ICMP


def test_icmp_errors_in_packetdrills_two_orders() -> None:
    ev = parse_statement("+0.10 < [4294967295:4294967295(0)] icmp unreachable port_unreachable", 9)
    assert isinstance(ev, IcmpEvent)
    assert (ev.icmp_type, ev.code, ev.seq, ev.length, ev.mtu) == (3, 3, 4294967295, 0, None)
    ev = parse_statement("+0 < icmp unreachable frag_needed mtu 1200 [1:1001(1000)]", 3)
    assert isinstance(ev, IcmpEvent)
    assert (ev.icmp_type, ev.code, ev.seq, ev.length, ev.mtu) == (3, 4, 1, 1000, 1200)
    ev = parse_statement("+0 < [0:0(0)] icmp time_exceeded ttl_exceeded_in_transit", 4)
    assert isinstance(ev, IcmpEvent) and (ev.icmp_type, ev.code) == (11, 0)
    ev = parse_statement("+0 < [0:0(0)] icmp type_12 code_1", 5)
    assert isinstance(ev, IcmpEvent) and (ev.icmp_type, ev.code) == (12, 1)


def test_icmp_errors_that_cannot_be_played() -> None:
    with pytest.raises(ParseError, match="ICMP code 'no_such_code' not understood"):
        parse_statement("+0 < [0:0(0)] icmp unreachable no_such_code", 1)
    with pytest.raises(ParseError, match="only inbound ICMP"):
        parse_statement("+0 > icmp unreachable port_unreachable", 1)
