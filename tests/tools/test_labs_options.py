"""What a learner changes in a lab: --sysctl, --fault (added to the lab's own), --no-lab-faults, --pcap.

All in --sim (virtual time); the capture is read back by our pcapng reader (its comments) and by
`tcpdump -r` (that a real reader takes the file, the dropped FIN included).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

import minitcp.labs.cli as lab_cli
from minitcp.labs import LabOptions, get, run_lab
from minitcp.labs.cli import add_lab_parser, run_lab_command
from minitcp.trace.pcapng import read_pcapng
from minitcp.wire.tcp import parse_tcp_packet


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="minitcp")
    add_lab_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["lab", *argv])


def _fins(records: list, direction: str) -> list:
    return [r for r in records if r.direction == direction and parse_tcp_packet(r.packet).flags & 0x01]


def test_fault_rules_add_to_the_labs_own_and_the_capture_marks_each() -> None:
    # first-fin-lost drops minitcp's first FIN itself; the learner also loses the peer's first FIN.
    extra = "drop:dir=in,flags=F,nth=1"
    result = run_lab(get("first-fin-lost"), sim=True, options=LabOptions(faults=[extra], pcap=True))
    assert result.pcap is not None
    records = read_pcapng(result.pcap)
    out_fins, in_fins = _fins(records, "out"), _fins(records, "in")
    # The lab's own rule still fired: two FINs out, the first marked as dropped by that rule.
    assert len(out_fins) == 2
    assert out_fins[0].comment == "minitcp fault: dropped (rule drop:dir=out,flags=F,nth=1)"
    assert out_fins[1].comment is None
    # The learner's rule fired too: the peer's FIN, lost before minitcp saw it, is in the
    # capture where it was lost, marked, and minitcp's engine never saw it.
    assert in_fins and in_fins[0].comment == f"minitcp fault: dropped (rule {extra})"
    assert not [s for s in result.trace.segments("minitcp", "in") if "F" in s.flags]
    assert any("--fault" in n.en and extra in n.en for n in result.notes)
    # Packets with no fault carry no comment; times run forward.
    assert sum(r.comment is not None for r in records) == 2
    assert [r.time for r in records] == sorted(r.time for r in records)


def test_no_lab_faults_leaves_the_labs_rules_out_and_its_verdict_fails() -> None:
    result = run_lab(get("first-fin-lost"), sim=True, options=LabOptions(own_faults=False))
    assert result.verdict == "fail"
    assert not [s for s in result.trace.select("fault")]


def test_a_learners_sysctl_holds_over_the_labs_own() -> None:
    # fin-retries-exhausted sets tcp_orphan_retries=3 (5 FINs with the loss probe); the learner's 1
    # wins: 3 FINs (the first, the probe, one retry).
    result = run_lab(get("fin-retries-exhausted"), sim=True,
                     options=LabOptions(sysctls=[("tcp_orphan_retries", "1")]))
    fins = [s for s in result.trace.segments("minitcp", "out") if "F" in s.flags]
    assert len(fins) == 3
    assert result.verdict == "fail"  # the lab's check counts 5
    assert any("--sysctl keeps 1" in n.en for n in result.notes)


def test_bad_rules_and_knobs_stop_the_command_before_any_lab_runs(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a lab ran")

    monkeypatch.setattr(lab_cli, "run_lab", never)
    for argv, said in (
        (("--fault", "drop:dir=sideways"), "bad fault rule 'drop:dir=sideways': dir must be in or out"),
        (("--fault", "delay:dir=out"), "delay needs ms=N"),
        (("--sysctl", "net.ipv4.tcp_syn_retries=0"),
         'setting key "net.ipv4.tcp_syn_retries": Invalid argument (1 to 127, not 0)'),
        (("--sysctl", "net.ipv4.tcp_fin_timout=5"), "did you mean net.ipv4.tcp_fin_timeout"),
        (("--pcap", str(tmp_path)), "exists"),
    ):
        with pytest.raises(SystemExit) as exit_:
            _parse("first-fin-lost", "--sim", *argv)
        assert exit_.value.code == 2
        assert said in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
def test_tcpdump_reads_the_capture_with_the_dropped_fin(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    path = tmp_path / "lab.pcapng"
    assert run_lab_command(_parse("first-fin-lost", "--sim", "--pcap", str(path))) == 0
    capsys.readouterr()
    assert path.stat().st_mode & 0o777 == 0o600
    shown = subprocess.run(["tcpdump", "-nr", str(path)], capture_output=True, text=True, timeout=30,
                           check=True)
    lines = shown.stdout.splitlines()
    fins = [line for line in lines if "198.18.0.2." in line.split(">")[0] and "Flags [F.]" in line]
    assert len(fins) == 2  # the dropped one too
    assert any("Flags [S]" in line for line in lines)
    assert "link-type RAW" in shown.stderr


def test_a_delayed_incoming_packet_is_marked_when_it_arrives() -> None:
    rule = "delay:dir=in,flags=F,ms=50"
    result = run_lab(get("first-fin-lost"), sim=True, options=LabOptions(faults=[rule], pcap=True))
    assert result.pcap is not None
    (fin,) = _fins(read_pcapng(result.pcap), "in")
    assert fin.comment == f"minitcp fault: delayed 50ms (rule {rule})"
    # It is recorded once, when minitcp got it, 50 ms after the peer sent it.
    (fault,) = [e for e in result.trace.select("fault") if e.direction == "in"]
    (seen,) = [s for s in result.trace.segments("minitcp", "in") if "F" in s.flags]
    assert seen.time - fault.time == pytest.approx(0.050)
