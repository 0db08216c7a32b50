"""The packetdrill language as Linux's own scripts (gtests/net/tcp) write it: one construct a test."""

from __future__ import annotations

import glob
import os

import pytest

from minitcp.conformance.model import (
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
from minitcp.conformance.parser import parse_file, parse_script, parse_statement
from minitcp.conformance.symbols import resolve

from ..helpers.shared import LINUX_SUITE

LINUX = LINUX_SUITE
needs_linux = pytest.mark.skipif(not os.path.isdir(LINUX), reason=f"Linux's scripts are not at {LINUX}")


def packet(text: str) -> PacketEvent:
    ev = parse_statement(text)
    assert isinstance(ev, PacketEvent)
    return ev


def call(text: str) -> SyscallEvent:
    ev = parse_statement(text)
    assert isinstance(ev, SyscallEvent)
    return ev


def icmp(text: str) -> IcmpEvent:
    ev = parse_statement(text)
    assert isinstance(ev, IcmpEvent)
    return ev


def test_a_call_may_run_over_several_lines_until_its_brackets_close() -> None:
    script = parse_script("""
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 poll([{fd=3,
             events=POLLOUT,
             revents=POLLOUT}], 1, 1000) = 1
   +0 close(3) = 0
""")
    poll = script.events[1]
    assert isinstance(poll, SyscallEvent) and poll.line == 3
    assert resolve(poll.args[0]) == [{"fd": 3, "events": 4, "revents": 4}]
    assert script.events[2].line == 6


def test_a_msghdr_with_iovecs_and_a_control_message() -> None:
    ev = call("+0 recvmsg(3, {msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=0, "
              "msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=9000}]}, 0) = 1000")
    msghdr = resolve(ev.args[1])
    assert isinstance(msghdr, dict)
    assert msghdr["msg_iov_len"] == 1 and msghdr["msg_iov"] == [{"iov_base": ..., "iov_len": 1000}]
    assert msghdr["msg_control"] == [{"cmsg_level": 6, "cmsg_type": 36, "cmsg_data": 9000}]
    assert msghdr["msg_name"] is ...


def test_flag_expressions_null_buffers_and_errno_results() -> None:
    ev = parse_statement("+0 send(4, NULL, 1000, MSG_MORE|MSG_DONTWAIT) = -1 EFAULT (Bad address)")
    assert isinstance(ev, SyscallEvent)
    assert resolve(ev.args[1]) == 0 and resolve(ev.args[3]) == 0x8000 | 0x40
    assert ev.result == -1 and ev.errno == "EFAULT"


def test_epoll_and_ioctl_names_are_linuxs_values() -> None:
    ev = parse_statement("+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, "
                         "{events=EPOLLOUT|EPOLLET|EPOLLEXCLUSIVE, fd=4}) = 0")
    assert isinstance(ev, SyscallEvent)
    assert resolve(ev.args[3]) == {"events": 4 | 1 << 31 | 1 << 28, "fd": 4}
    assert resolve(call("+0 ioctl(4, SIOCINQ, [1000]) = 0").args[1]) == 0x541B


def test_a_blocking_call_with_a_space_before_its_end_time() -> None:
    ev = parse_statement("+.002 ... 0.004 connect(4, ..., ...) = 0")
    assert ev.time == Time(0.002, relative=True, end=0.004)


def test_a_segment_with_no_flags_urgent_data_and_ecn_marks() -> None:
    none = packet("+.01 < - 1:1001(1000) win 20000")
    assert none.flags == "" and none.ack is None
    urgent = packet("+0 < U. 1:101(100) ack 1 win 257 urg 100")
    assert urgent.urgent == 100 and urgent.window == 257
    marked = packet("+0 > [ect0] P. 1:1001(1000) ack 1")
    assert marked.ecn == "ect0" and marked.flags == "P."
    assert packet("+.1 < [noecn] E. 1:1(0) ack 1 win 320").ecn == "noecn"


def test_fast_open_md5_and_experimental_options() -> None:
    def options(text: str) -> tuple[Option, ...]:
        opts = packet(text).options
        assert isinstance(opts, tuple)
        return opts

    assert Option("FO", "0123456789abcdef") in options(
        "+0 < S 0:10(10) win 32792 <mss 1460,sackOK,nop,nop,FO 0123456789abcdef,nop,nop>")
    assert Option("FO", None) in options("+0 > S 0:0(0) <mss 1460,FO,nop,nop>")
    assert Option("FOEXP", "1234123412341234") in options(
        "+0 < S 0:0(0) win 1 <mss 1460, FOEXP 1234123412341234>")
    md5 = options("+0 < . 1:1(0) ack 1 win 1 <md5 000102030405060708090a0b0c0d0e0f,nop,nop>")
    assert md5[0] == Option("md5", "000102030405060708090a0b0c0d0e0f")


def test_an_icmp_name_packetdrill_resolves_at_run_time_parses() -> None:
    ev = icmp("+.1 < icmp unreachable CODE")
    assert ev.icmp_type == 3 and ev.unknown == "CODE"
    assert icmp("+.1 < icmp unreachable frag_needed mtu 1200").unknown is None
    assert icmp("+.01 < icmp packet_too_big mtu 1400 [0:1440(1440)]").unknown == "packet_too_big"
    with pytest.raises(ParseError, match="ICMP code 'no_such_code' not understood"):
        parse_statement("+0 < icmp unreachable no_such_code")


def test_d_name_value_reads_as_the_value_in_packets_and_calls() -> None:
    script = parse_script("+0 < icmp unreachable CODE\n+0 setsockopt(3, SOL_TCP, OPT, [1], 4) = 0\n",
                          defines=["STANDARD", "CODE=port_unreachable", "OPT=TCP_NODELAY"])
    icmp, call = script.events
    assert isinstance(icmp, IcmpEvent) and icmp.code == 3 and icmp.unknown is None
    assert isinstance(call, SyscallEvent) and call.args[2] == Symbol("TCP_NODELAY")


def test_a_backtick_command_keeps_its_lines_and_joins_backslash_continuations() -> None:
    script = parse_script("""`../common/defaults.sh
../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0 \\
    /proc/sys/net/ipv4/tcp_sack=0`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 `sysctl -q net.ipv4.tcp_ecn=1`
""")
    assert script.init_command == ("../common/defaults.sh\n../common/set_sysctls.py "
                                   "/proc/sys/net/ipv4/tcp_timestamps=0 /proc/sys/net/ipv4/tcp_sack=0")
    assert script.gtests_net and script.tolerance_percent == 12.5
    command = script.events[1]
    assert isinstance(command, CommandEvent) and command.command == "sysctl -q net.ipv4.tcp_ecn=1"


def test_a_freebsd_script_keeps_the_fixed_tolerance() -> None:
    script = parse_script("--tolerance_usecs=10000\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n")
    assert not script.gtests_net and script.tolerance_percent == 0 and script.tolerance == 0.01


def test_code_snippets_over_several_lines() -> None:
    script = parse_script("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                          "+0 %{\nTCP_X = 1\nassert TCP_X == 1\n}%\n")
    snippet = script.events[1]
    assert isinstance(snippet, CodeEvent) and "assert TCP_X == 1" in snippet.code


@needs_linux
def test_every_shared_linux_script_parses() -> None:
    paths = sorted(glob.glob(f"{LINUX}/**/*.pkt", recursive=True))
    assert len(paths) >= 160
    for path in paths:
        parse_file(path)
