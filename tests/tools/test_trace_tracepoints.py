# ruff: noqa: E501  (tracefs lines, recorded as they are)
"""Reading the kernel's tracepoints: lines recorded from tracefs, both print formats, whose sockets
are ours, and the kernel's lifeline built from them (with ss's TIME_WAIT)."""

from __future__ import annotations

from minitcp.labs.kernel_states import KERNEL_HOST, from_samples, from_tracepoints
from minitcp.trace.events import CallEvent, RetransmitEvent, SegmentEvent, StateEvent
from minitcp.trace.ladder import render_ladder
from minitcp.trace.tracepoints import ours, parse_line, parse_trace
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, FIN, Segment

# Recorded on Linux 6.18 with options/record-tgid and options/fields (raw values, the socket's address).
FIELDS = """\
# tracer: nop
#
         python3-29060   (  29060) [001] .....  2174.788658: inet_sock_set_state: skaddr=0xffff888103428000 (-131387289862144) oldstate=0x8 (8) newstate=0x9 (9) sport=0x50 (80) dport=0xe6aa (59050) family=0x2 (2) protocol=0x6 (6) saddr=0x10012c6 (16782022) daddr=0x20012c6 (33559238) saddr_v6=<INVALID-SIZE> daddr_v6=<INVALID-SIZE>
     ksoftirqd/1-24      (     24) [001] ..s1.  2174.790001: inet_sock_set_state: skaddr=0xffff888103428000 (-131387289862144) oldstate=0x9 (9) newstate=0x7 (7) sport=0x50 (80) dport=0xe6aa (59050) family=0x2 (2) protocol=0x6 (6) saddr=0x10012c6 (16782022) daddr=0x20012c6 (33559238) saddr_v6=<INVALID-SIZE> daddr_v6=<INVALID-SIZE>
          <idle>-0       (-------) [000] ..s1.  2174.800000: inet_sock_set_state: skaddr=0xffff888103428000 (-131387289862144) oldstate=0xa (10) newstate=0x3 (3) sport=0x50 (80) dport=0x9c40 (40000) family=0x2 (2) protocol=0x6 (6) saddr=0x10012c6 (16782022) daddr=0x20012c6 (33559238) saddr_v6=<INVALID-SIZE> daddr_v6=<INVALID-SIZE>
"""
# The default print format (no options): symbolic names, no socket address for state changes.
DEFAULT = """\
         python3-6835    [001] .....  1785.422086: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=50452 dport=7000 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_ESTABLISHED newstate=TCP_FIN_WAIT1
     ksoftirqd/1-24      [001] ..s1.  1785.429259: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=50452 dport=7000 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_FIN_WAIT1 newstate=TCP_FIN_WAIT2
          python-29074   (  29074) [000] ..s1.  2264.840051: tcp_retransmit_skb: skbaddr=0000000080ec511a skaddr=000000008ad85ca5 family=AF_INET sport=48742 dport=80 saddr=198.18.0.1 daddr=198.18.0.9 saddrv6=::ffff:198.18.0.1 daddrv6=::ffff:198.18.0.9 state=TCP_LAST_ACK err=-113
         python3-6835    [001] .....  1785.430000: inet_sock_set_state: family=AF_INET6 protocol=IPPROTO_TCP sport=1 dport=2 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=2001:2::1 daddrv6=2001:2::2 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT
"""


def test_parses_the_raw_fields_format() -> None:
    events = parse_trace(FIELDS)
    assert len(events) == 3
    first = events[0]
    assert (first.time, first.event, first.tgid) == (2174.788658, "inet_sock_set_state", 29060)
    assert (first.local, first.remote, first.old, first.new) == (
        "198.18.0.1:80", "198.18.0.2:59050", "CLOSE_WAIT", "LAST_ACK")
    assert first.sock == "-131387289862144"
    assert events[1].new == "CLOSED" and events[1].tgid == 24
    assert events[2].tgid == -1 and (events[2].old, events[2].new) == ("LISTEN", "SYN_RECEIVED")


def test_parses_the_default_format_and_retransmissions() -> None:
    events = parse_trace(DEFAULT)
    assert [(e.old, e.new) for e in events[:2]] == [("ESTABLISHED", "FIN_WAIT_1"), ("FIN_WAIT_1", "FIN_WAIT_2")]
    assert events[0].tgid == -1 and events[0].sock == ""
    retrans = events[2]
    assert (retrans.event, retrans.state, retrans.local, retrans.remote, retrans.tgid) == (
        "tcp_retransmit_skb", "LAST_ACK", "198.18.0.1:48742", "198.18.0.9:80", 29074)
    assert len(events) == 3  # the IPv6 line is not the labs' business
    assert parse_line("# tracer: nop") is None


def test_ours_keeps_each_socket_life_that_touched_this_process() -> None:
    events = parse_trace(FIELDS)
    # Life 1 of the socket address ran a call in process 29060 (close() -> LAST_ACK): kept, with its
    # end in softirq. The address was then reused for another socket (life 2): not ours.
    assert [e.time for e in ours(events, 29060, set())] == [2174.788658, 2174.790001]
    # A socket the caller holds by its four-tuple is ours even if nothing of it ran here.
    held = ours(events, 1, {("198.18.0.1:80", "198.18.0.2:40000")})
    assert [e.new for e in held] == ["SYN_RECEIVED"]
    assert ours(events, 1, set()) == []
    # A softirq shows whichever process was running: process 29060 here, yet not its socket.
    foreign = parse_line(FIELDS.splitlines()[3].replace("(     24)", "(  29060)"))
    assert foreign is not None and foreign.irq and foreign.tgid == 29060
    assert ours([foreign], 29060, set()) == []
    assert not events[0].irq


def test_kernel_lifeline_from_tracepoints_with_time_wait_from_ss() -> None:
    events = parse_trace(DEFAULT)[:2]
    local, remote = "127.0.0.1:50452", "127.0.0.1:7000"
    closed = parse_line(DEFAULT.splitlines()[1].replace("1785.429259", "1785.429266").replace(
        "oldstate=TCP_FIN_WAIT1 newstate=TCP_FIN_WAIT2", "oldstate=TCP_FIN_WAIT2 newstate=TCP_CLOSE"))
    assert closed is not None
    retrans = parse_trace(DEFAULT)[2]
    samples = {(local, remote): [(1785.5, "TIME_WAIT"), (1846.0, "CLOSED")]}
    out = from_tracepoints([*events, closed, retrans], 0.0, samples)
    states = [(e.old, e.new) for e in out if isinstance(e, StateEvent)]
    assert states == [("ESTABLISHED", "FIN_WAIT_1"), ("FIN_WAIT_1", "FIN_WAIT_2"), ("FIN_WAIT_2", "TIME_WAIT"),
                      ("TIME_WAIT", "CLOSED")]
    assert all(e.host == KERNEL_HOST for e in out)
    assert [e.time for e in out if isinstance(e, RetransmitEvent)] == [2264.840051]
    # Without ss's word, the full socket's CLOSE stays what the tracepoint said.
    plain = from_tracepoints([*events, closed], 10.0, {})
    assert [(e.new, e.time) for e in plain][-1] == ("CLOSED", 1795.429266)


def test_kernel_lifeline_from_ss_samples() -> None:
    out = from_samples({("a:1", "b:2"): [(1.0, "ESTABLISHED"), (2.0, "CLOSE_WAIT"), (3.0, "CLOSED")]})
    assert [(e.time, e.old, e.new) for e in out if isinstance(e, StateEvent)] == [
        (1.0, "CLOSED", "ESTABLISHED"), (2.0, "ESTABLISHED", "CLOSE_WAIT"), (3.0, "CLOSE_WAIT", "CLOSED")]


def test_the_kernels_states_and_retransmissions_are_on_its_lifeline() -> None:
    """The kernel recorded no segments (minitcp's view draws them): its column has its notes."""
    mine, theirs = "198.18.0.2:40000", "198.18.0.1:80"
    events = [
        StateEvent(0.0, "minitcp", mine, theirs, "ESTABLISHED", "FIN_WAIT_1"),
        StateEvent(0.001, KERNEL_HOST, theirs, mine, "ESTABLISHED", "CLOSE_WAIT"),
        CallEvent(0.002, KERNEL_HOST, theirs, mine, "close", 5, "", 0, None, "last"),
        StateEvent(0.002, KERNEL_HOST, theirs, mine, "CLOSE_WAIT", "LAST_ACK"),
        RetransmitEvent(0.21, KERNEL_HOST, theirs, mine, "", 0, 0),
    ]
    text = render_ladder(events, left="minitcp")
    assert text.splitlines()[0].rstrip().endswith(f"{KERNEL_HOST} {theirs}")
    for needle in ("CLOSE_WAIT → LAST_ACK", "close(fd 5) = 0", "retransmit (tcp_retransmit_skb)"):
        line = next(ln for ln in text.splitlines() if needle in ln)
        assert line.index(needle) > line.rindex("│")  # right of the kernel's lifeline
    assert "重传 (tcp_retransmit_skb)" in render_ladder(events, left="minitcp", lang="zh")
    # When the retransmitted segment reached minitcp, its arrow is marked instead.
    fin = SegmentEvent(0.212, "minitcp", mine, theirs, "in", "F.", 1, 1, 0, 65535, {}, 1001, 2001,
                       _seg=Segment(ip_int("198.18.0.1"), ip_int("198.18.0.2"), 80, 40000, 1001, 2001, FIN | ACK,
                                    65535))
    marked = render_ladder([*events, fin], left="minitcp")
    assert "FIN seq=1 ack=1 (retransmit)" in marked and "tcp_retransmit_skb" not in marked
