"""Strict agreement: the line, what was seen there and when, read alike from packetdrill and the runner."""

from __future__ import annotations

from minitcp.conformance.failure import CALL, CODE, NOTHING, SEGMENT, Failure, parse_failure, strictly_agree

# packetdrill's messages as referee.first_error joins them (run_packet.c, run_system_call.c, run.c).
PD_MISMATCH = ("x.pkt:24: error handling packet: live packet field tcp_ack_seq: expected: 100 (0x64) vs "
               "actual: 101 (0x65); script packet:  0.200000 . 1:1(0) ack 100; "
               "actual packet:  0.201000 . 1:1(0) ack 101 win 256")
RUNNER_MISMATCH = ("line 24: ack 101 instead of 100: minitcp sent `. 1:1(0) ack 101 win 1054` at 0.203 s, "
                   "script expects `> . 1:1(0) ack 100`")
PD_LATE = ("x.pkt:30: error handling packet: timing error: expected outbound packet at 0.100000 sec but "
           "happened at 0.140000 sec; tolerance 0.004000 sec; script packet:  0.100000 F. 1:1(0) ack 2; "
           "actual packet:  0.140000 F. 1:1(0) ack 2 win 256")
RUNNER_LATE = ("line 30: `> F. 1:1(0) ack 2` sent late at 0.140 s, script expects it at 0.100 s "
               "(tolerance 4 ms)")
PD_CALL = ("x.pkt:12: runtime error in write call: Expected result 10 but got -1 with errno 11 "
           "(Resource temporarily unavailable)")
RUNNER_CALL = "line 12: write() returned -1 EAGAIN, script expects 10"


def test_packetdrill_and_runner_failures_read_as_the_same_facts() -> None:
    assert parse_failure(PD_MISMATCH) == Failure(24, SEGMENT, (".", 1, 101, 0), 0.201)
    assert parse_failure(RUNNER_MISMATCH) == Failure(24, SEGMENT, (".", 1, 101, 0), 0.203)
    assert parse_failure(PD_CALL) == Failure(12, CALL, "-1 EAGAIN")
    assert parse_failure(RUNNER_CALL) == Failure(12, CALL, "-1 EAGAIN")
    assert parse_failure("x.pkt:9: error in Python code; AssertionError: 70") == Failure(9, CODE)
    assert parse_failure("line 9: assertion failed: assert tcpi_snd_cwnd == 10 (minitcp: ESTABLISHED, {})") \
        == Failure(9, CODE)
    assert parse_failure("line 5: expected `> S. 0:0(0) ack 1` at 0.100 s (tolerance 4 ms), but minitcp sent "
                         "nothing") == Failure(5, NOTHING)
    assert parse_failure(None) is None


def test_agreement_is_the_same_line_observation_and_time_within_tolerance() -> None:
    assert strictly_agree(None, None, 0.004)
    assert not strictly_agree(None, RUNNER_CALL, 0.004)
    assert strictly_agree(PD_MISMATCH, RUNNER_MISMATCH, 0.004)
    assert not strictly_agree(PD_MISMATCH, RUNNER_MISMATCH.replace("0.203", "0.300"), 0.004)
    assert not strictly_agree(PD_MISMATCH, RUNNER_MISMATCH.replace("ack 101 win", "ack 102 win"), 0.004)
    assert strictly_agree(PD_LATE, RUNNER_LATE, 0.004)
    assert strictly_agree(PD_CALL, RUNNER_CALL, 0.004)
    assert not strictly_agree(PD_CALL, RUNNER_CALL.replace("line 12", "line 13"), 0.004)


def test_a_segment_sent_instead_of_an_expected_one_is_what_was_seen() -> None:
    # The runner's "sent nothing, its next segment X" is packetdrill's mismatch with X sniffed later.
    runner = ("line 27: expected `> . 1001:2001(1000) ack 1` at 0.022 s (tolerance 4 ms), but minitcp sent "
              "nothing (its next segment: `. 1:1001(1000) ack 1 win 1054` at 0.220 s)")
    kernel = ("x.pkt:27: error handling packet: live packet field tcp_seq: expected: 1001 (0x3e9) vs actual: "
              "1 (0x1); script packet:  0.022000 . 1001:2001(1000) ack 1; actual packet:  0.221000 . "
              "1:1001(1000) ack 1 win 256")
    assert strictly_agree(runner, kernel, 0.004)


def test_a_failed_command_is_its_output_not_the_ports_of_the_socket_table() -> None:
    command = ("`sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1` failed: "
               "the socket table gives ''")
    ours = f"line 63: {command} (fd :60438>8080 CLOSED, kernel :60438>8080 TIME_WAIT)"
    theirs = f"line 63: {command} (fd :56988>0 CLOSED, kernel :56988>8080 TIME_WAIT)"
    assert strictly_agree(ours, theirs, 0.01)
    assert not strictly_agree(ours, ours.replace("gives ''", "gives '0'"), 0.01)
