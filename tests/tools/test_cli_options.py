"""`minitcp up --sysctl/--fault/--pcap`: parsed with clear errors, and really applied to the stack."""

from __future__ import annotations

import argparse
import io
import struct
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from minitcp.cli import _build_parser, main
from minitcp.cli_options import build_link, build_stack, fault_printer
from minitcp.faults import parse_rule
from minitcp.link.faulty import FaultyLink
from minitcp.link.memory import memory_link_pair
from minitcp.trace.pcap import read_pcap
from minitcp.wire.ipv4 import PROTO_ICMP, build_ipv4, ip_int
from minitcp.wire.segment import SYN, Segment
from minitcp.wire.tcp import build_tcp_packet

HOST, STACK = ip_int("198.18.0.1"), ip_int("198.18.0.2")


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_sysctl_takes_linux_names_short_names_and_repeats() -> None:
    args = _build_parser().parse_args(["up", "--sysctl", "net.ipv4.tcp_fin_timeout=5",
                                       "--sysctl", "tcp_sack=0",
                                       "--sysctl", "net.ipv4.ip_local_port_range=40000 40100"])
    assert args.sysctl == [("tcp_fin_timeout", "5"), ("tcp_sack", "0"),
                           ("ip_local_port_range", "40000 40100")]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("net.ipv4.tcp_fin_timeot=5",
         "unknown knob 'net.ipv4.tcp_fin_timeot'; did you mean net.ipv4.tcp_fin_timeout"),
        ("net.ipv4.no_such_thing=1", "unknown knob 'net.ipv4.no_such_thing'"),
        ("net.ipv4.tcp_fin_timeout", "expected NAME=VALUE (e.g. net.ipv4.tcp_fin_timeout=5)"),
        ("net.ipv4.tcp_fin_timeout=soon", "net.ipv4.tcp_fin_timeout takes a number (seconds), not 'soon'"),
        ("net.ipv4.tcp_syn_retries=2.5", "net.ipv4.tcp_syn_retries takes a whole number, not '2.5'"),
        ("net.ipv4.ip_local_port_range=1", "takes 2 whole numbers separated by spaces"),
        ("net.ipv4.tcp_fin_timeout=-1", "must be a finite number >= 0"),
    ],
)
def test_a_bad_sysctl_is_one_usage_line(
    setting: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _usage_error(["up", "--sysctl", setting], capsys)
    assert line.startswith("minitcp up: error: argument --sysctl:")
    assert message in line


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("lose:nth=1", "bad fault rule 'lose:nth=1': unknown action 'lose'"),
        ("drop:dir=up", "dir must be in or out"),
        ("delay:nth=1", "delay needs ms=N"),
        ("drop:nth=0", "nth counts from 1"),
    ],
)
def test_a_bad_fault_rule_is_one_usage_line(
    rule: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _usage_error(["up", "--fault", rule], capsys)
    assert line.startswith("minitcp up: error: argument --fault:")
    assert message in line


def test_pcap_to_a_place_that_cannot_be_written_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _usage_error(["up", "--pcap", str(tmp_path / "no" / "such" / "dir.pcap")], capsys)
    assert "argument --pcap: cannot write" in line and "No such file or directory" in line


def _args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    return _build_parser().parse_args(["up", "--pcap", str(tmp_path / "t.pcap"), *extra])


def test_build_stack_sets_the_knobs(tmp_path: Path) -> None:
    link, _ = memory_link_pair()
    args = _args(tmp_path, "--sysctl", "net.ipv4.tcp_fin_timeout=5", "--sysctl", "net.ipv4.tcp_syn_retries=2")
    stack = build_stack(link, args)
    assert stack.knobs.tcp_fin_timeout == 5.0
    assert stack.knobs.tcp_syn_retries == 2
    assert stack.knobs.tcp_timewait_len == 60.0  # untouched knobs keep Linux's defaults
    assert stack.link is link  # no --fault: the link itself


def _echo_request(seq: int) -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, 77, seq) + b"x" * 8
    total = sum(struct.unpack(f"!{len(body) // 2}H", body))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    body = body[:2] + struct.pack("!H", ~total & 0xFFFF) + body[4:]
    return build_ipv4(HOST, STACK, PROTO_ICMP, body)


async def test_fault_drops_the_first_ping_reply_and_says_so(
    tmp_path: Path, autojump_clock: MockClock
) -> None:
    stack_end, host = memory_link_pair()
    args = _args(tmp_path, "--fault", "drop:dir=out,nth=1")
    out = io.StringIO()
    stack = build_stack(stack_end, args)
    assert isinstance(stack.link, FaultyLink) and stack.link.link is stack_end
    stack.link.report = fault_printer(out)  # what -v would print, captured
    replies: list[bytes] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stack.run)
        for seq in (1, 2, 3):
            host.send(_echo_request(seq))
            with trio.move_on_after(0.5):
                replies.extend(bytes(p) for p, _ in await host.recv_batch())
        nursery.cancel_scope.cancel()
    seqs = [struct.unpack_from("!H", r, 26)[0] for r in replies]
    assert seqs == [2, 3]  # the first reply vanished on the way out
    assert stack.counters["OutEchoReps"] == 3  # the stack did answer it
    [line] = out.getvalue().splitlines()
    assert line.startswith("FAULT drop out ")
    assert "IP 198.18.0.2 > 198.18.0.1: ICMP echo reply, id 77, seq 1" in line
    args.pcap.close()
    _, packets = read_pcap(tmp_path / "t.pcap")
    assert len(packets) == 6  # three requests in, three replies out (recorded before the fault)


async def test_flag_rules_touch_only_tcp(autojump_clock: MockClock) -> None:
    stack_end, host = memory_link_pair()
    faults: list[str] = []
    link = build_link(stack_end, [parse_rule("drop:dir=in,flags=S")],
                      lambda d, action, pkt, now: faults.append(f"{action} {d}"))
    host.send(_echo_request(1))  # not TCP: flags=S cannot match it
    host.send(build_tcp_packet(Segment(HOST, STACK, 40000, 80, 1, 0, SYN, 64240)))
    with trio.move_on_after(0.1):
        batch = await link.recv_batch()
    assert len(batch) == 1 and bytes(batch[0][0])[9] == PROTO_ICMP
    assert faults == ["drop in"]


def test_up_help_lists_the_new_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for flag in ("--sysctl NAME=VALUE", "--pcap FILE", "--fault RULE", "--control PATH"):
        assert flag in out
