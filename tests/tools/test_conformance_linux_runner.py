"""The runner plays Linux's packetdrill constructs against minitcp (virtual time).

Each script here is written for the test: symbolic descriptors, a SYN that
names the remote host's ISN, a TSO super-segment, msghdr I/O, `%{ }%` as
Python over TCP_INFO, defaults.sh; and the calls minitcp does not have yet,
which must fail saying so.
"""

from __future__ import annotations

import os

import pytest

from minitcp.conformance import parse_script, raw_options, run_paths
from minitcp.conformance.model import Option
from minitcp.conformance.runner import Outcome, Runner
from minitcp.tcp.knobs import Knobs
from minitcp.wire.checksum import checksum, pseudo_header_sum
from minitcp.wire.ipv4 import PROTO_TCP, ip_int
from minitcp.wire.segment import SYN, Segment
from minitcp.wire.tcp import build_tcp_packet

from ..helpers.shared import LINUX_SUITE

ACCEPTED = """\
`../common/defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 5
   +0 setsockopt(5, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(5, ..., ...) = 0
   +0 listen(5, 1) = 0
   +0 < S 100:100(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
   +0 > S. 0:0(0) ack 101 <mss 1460,nop,nop,sackOK,nop,wscale 8>
  +.1 < . 1:1(0) ack 1 win 257
   +0 accept(5, ..., ...) = 7
"""


def run(text: str, knobs: Knobs | None = None) -> tuple[Outcome, Runner]:
    runner = Runner(parse_script(text), knobs=knobs)
    return runner.run(), runner


def test_descriptors_are_the_scripts_own_numbers_and_a_syn_names_the_remote_isn() -> None:
    outcome, _ = run(ACCEPTED + "   +0 close(7) = 0\n   +0 > F. 1:1(0) ack 1\n")
    assert outcome.ok, outcome.reason


def test_a_tso_super_segment_matches_the_wire_segments_it_was_cut_into() -> None:
    text = ACCEPTED + """\
   +0 write(7, ..., 10000) = 10000
   +0 > P. 1:10001(10000) ack 1
   +0 < . 1:1(0) ack 10001 win 257
"""
    outcome, _ = run(text)
    assert outcome.ok, outcome.reason
    outcome, _ = run("--strict_segments\n" + text)
    assert not outcome.ok and "minitcp sent `. 1:1001(1000) ack 1" in (outcome.reason or "")


def test_recvmsg_gathers_its_iovecs_and_a_snippet_is_python_over_tcp_info() -> None:
    outcome, _ = run(ACCEPTED + """\
   +0 %{ INITIAL = tcpi_snd_cwnd }%
   +0 < P. 1:101(100) ack 1 win 257
   +0 > . 1:1(0) ack 101
   +0 recvmsg(7, {msg_name(...)=...,
                  msg_iov(2)=[{..., 60}, {..., 40}],
                  msg_flags=0}, 0) = 100
   +0 %{
assert INITIAL == 10, INITIAL
assert tcpi_state == TCP_ESTABLISHED and tcpi_snd_ssthresh == TCP_INFINITE_SSTHRESH
assert tcpi_rcv_mss == 536 and tcpi_snd_mss == 1000
}%
""")
    assert outcome.ok, outcome.reason


def test_a_snippet_reads_every_tcp_info_field_and_naming_one_linux_lacks_says_which() -> None:
    outcome, _ = run(ACCEPTED + "   +0 %{ assert tcpi_delivered == 1 and tcpi_rwnd_limited == 0 }%\n")
    assert outcome.ok, outcome.reason
    outcome, _ = run(ACCEPTED + "   +0 %{ assert tcpi_no_such_field == 1 }%\n")
    assert outcome.reason is not None and "tcpi_no_such_field is not available" in outcome.reason


def test_defaults_sh_sets_the_knobs_minitcp_has_and_lists_the_others() -> None:
    knobs = Knobs()
    outcome, _ = run(ACCEPTED, knobs)
    assert outcome.ok, outcome.reason
    assert knobs.tcp_rmem == (4096, 540000, 15 * 1024 * 1024) and knobs.tcp_slow_start_after_idle == 0
    assert knobs.tcp_ecn == 0
    assert (knobs.tcp_frto, knobs.tcp_early_retrans, knobs.tcp_recovery) == (2, 4, 1)
    assert "sysctl net.ipv4.tcp_fack" in outcome.ignored


def test_calls_minitcp_does_not_have_fail_saying_so() -> None:
    for call, what in [
        ("pipe([8, 9]) = 0\n   +0 splice(7, NULL, 9, NULL, 1000, 0) = 1000", "splice()"),
    ]:
        outcome, _ = run(ACCEPTED + f"   +0 {call}\n")
        reason = outcome.reason or ""
        assert reason.endswith(f"minitcp does not support {what}"), call


def test_poll_epoll_and_null_buffers_are_answered_as_linux_does() -> None:
    outcome, _ = run(ACCEPTED + """\
   +0 poll([{fd=7, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, 0) = 1
   +0 epoll_create(1) = 8
   +0 epoll_ctl(8, EPOLL_CTL_ADD, 7, {events=EPOLLIN, fd=7}) = 0
   +0 epoll_wait(8, {events=0, ptr=0}, 1, 0) = 0
   +0 write(7, NULL, 1000) = -1 EFAULT (Bad address)
   +0 < P. 1:101(100) ack 1 win 257
   +0...0 poll([{fd=7, events=POLLIN, revents=POLLIN}], 1, 1000) = 1
   +0 epoll_wait(8, {events=EPOLLIN, fd=7}, 1, 0) = 1
   +0 read(7, NULL, 100) = -1 EFAULT (Bad address)
   +0 read(7, ..., 100) = 100
""")
    assert outcome.ok, outcome.reason


def test_calls_minitcp_has_are_made_on_its_sockets() -> None:
    # SIOCINQ on an accepted connection with nothing queued, and a socket option minitcp knows.
    for call in ("ioctl(7, SIOCINQ, [0]) = 0", "setsockopt(7, SOL_TCP, TCP_NOTSENT_LOWAT, [1], 4) = 0"):
        outcome, _ = run(ACCEPTED + f"   +0 {call}\n")
        assert outcome.ok, (call, outcome.reason)


def test_a_relative_blocking_call_ends_relative_to_the_previous_event() -> None:
    # packetdrill's run.c: `+0.1...0.3` starts 0.1 s and returns 0.3 s after the previous event.
    outcome, _ = run(ACCEPTED + """\
 +.1...0.3 read(7, ..., 1000) = 100
 +.2 < P. 1:101(100) ack 1 win 257
""")
    assert outcome.ok, outcome.reason


LINUX = LINUX_SUITE


@pytest.mark.skipif(not os.path.isdir(LINUX), reason=f"Linux's scripts are not at {LINUX}")
def test_every_linux_script_runs_against_minitcp_to_a_verdict_never_a_crash() -> None:
    report = run_paths([LINUX])
    assert len(report.results) >= 160
    for result in report.results:
        reason = result.reason or ""
        assert not reason.startswith(("runner error", "parse error")), (result.name, reason)
        assert "raised" not in reason, (result.name, reason)


def test_fast_open_and_md5_options_are_added_with_lengths_and_checksums_fixed() -> None:
    seg = Segment(ip_int("198.18.0.1"), ip_int("198.18.0.2"), 40000, 8080, 1, 0, SYN, 65535, b"x" * 10,
                  mss=1460)
    extra = b"".join(raw for raw in (raw_options.encode(Option("FO", "0011223344556677")),
                                     raw_options.encode(Option("md5", "00" * 16))) if raw is not None)
    packet = raw_options.add_options(build_tcp_packet(seg), extra)
    assert checksum(packet[:20]) == 0  # the IP header's checksum holds
    tcp = packet[20:]
    assert checksum(tcp, pseudo_header_sum(seg.src, seg.dst, PROTO_TCP, len(tcp))) == 0
    offset = (tcp[12] >> 4) * 4
    assert bytes((34, 10)) + bytes.fromhex("0011223344556677") in tcp[20:offset]
    assert bytes((19, 18)) + bytes(16) in tcp[20:offset]
    assert tcp[offset:] == b"x" * 10 and len(packet) == int.from_bytes(packet[2:4], "big")
    assert raw_options.encode(Option("FOEXP", None)) == bytes((254, 4, 0xF9, 0x89))
    assert raw_options.encode(Option("mss", 1460)) is None


SECOND_PASSIVE_OPEN = ACCEPTED + """\
   +0 close(7) = 0
   +0 close(5) = 0
   +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 5
   +0 setsockopt(5, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(5, ..., ...) = 0
   +0 listen(5, 1) = 0
   +0 < S 100:100(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
   +0 > S. 0:0(0) ack 101 <mss 1460,nop,nop,sackOK,nop,wscale 8>
"""


def test_a_new_passive_open_comes_from_a_new_port_and_an_old_connections_fin_is_not_read() -> None:
    # packetdrill (run_packet.c): each connection to a listener under test comes from a new
    # remote port (next_ephemeral_port), and a `>` line reads only the socket under test's
    # segments: the FIN that close(7) sends, which no line expects, is not the SYN-ACK's.
    outcome, runner = run(SECOND_PASSIVE_OPEN)
    assert outcome.ok, outcome.reason
    assert (runner.passive_opens, runner.remote_port) == (2, 40001)


def test_a_fast_open_option_a_line_writes_is_compared() -> None:
    # minitcp sends no Fast Open cookie: a SYN-ACK line that expects one fails on it.
    text = ACCEPTED.replace("<mss 1460,nop,nop,sackOK,nop,wscale 8>",
                            "<mss 1460,nop,nop,sackOK,nop,wscale 8,FO 0011223344556677>")
    outcome, _ = run(text)
    assert not outcome.ok
    assert "Fast Open option none instead of FO 0011223344556677" in (outcome.reason or "")


@pytest.mark.parametrize(("algorithm", "ssthresh"), [("reno", 5), ("cubic", 7)])
def test_tcp_congestion_chooses_the_algorithm_a_timeout_reduces_by(algorithm: str, ssthresh: int) -> None:
    """setsockopt(TCP_CONGESTION) reaches minitcp: after a timeout at cwnd 10, Reno's ssthresh
    is half of it (tcp_reno_ssthresh), CUBIC's 0.7 (cubictcp_recalc_ssthresh). (No loss probe,
    tcp_early_retrans=0, so the RTO is the first retransmission.)"""
    text = ACCEPTED + f"""\
   +0 `sysctl -q net.ipv4.tcp_early_retrans=0`
   +0 setsockopt(7, IPPROTO_TCP, TCP_CONGESTION, "{algorithm}", {len(algorithm)}) = 0
   +0 write(7, ..., 10000) = 10000
   +0 > P. 1:10001(10000) ack 1
 +.3~+.31 > . 1:1001(1000) ack 1
   +0 %{{ assert tcpi_ca_state == 4 and tcpi_snd_cwnd == 1, (tcpi_ca_state, tcpi_snd_cwnd) }}%
   +0 %{{ assert tcpi_snd_ssthresh == {ssthresh}, tcpi_snd_ssthresh }}%
"""
    outcome, _ = run(text)
    assert outcome.ok, outcome.reason
