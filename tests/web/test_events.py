"""The web event stream of a known --sim lab: what arrived, what was lost, what a fault and a
retransmission refer to, the TIME_WAIT timer, tcpdump's line (docs/web-events.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from minitcp.labs.base import LabOptions
from minitcp.labs.registry import get
from minitcp.labs.runner import run_lab
from minitcp.web.events import WebEvents
from minitcp.web.lab import lab_settings


@pytest.fixture(scope="module")
def first_fin_lost() -> Any:
    return run_lab(get("first-fin-lost"), sim=True, options=LabOptions())


def _segments(events: list[dict[str, Any]], host: str, direction: str, flags: str) -> list[dict[str, Any]]:
    return [e for e in events if e["kind"] == "segment" and e["host"] == host and e["dir"] == direction
            and e["flags"] == flags]


def test_events_are_numbered_in_order_from_the_first_event_and_are_json(first_fin_lost: Any) -> None:
    events = WebEvents().convert_all(first_fin_lost.trace.events)
    assert [e["id"] for e in events] == list(range(len(events)))
    assert events[0]["t"] == 0.0
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    assert json.loads(json.dumps(events)) == events
    assert {e["kind"] for e in events} >= {"segment", "fault", "retransmit", "state", "call", "timer"}


def test_the_lost_fin_is_marked_by_its_fault_and_the_peer_receives_the_retransmission(
        first_fin_lost: Any) -> None:
    events = WebEvents().convert_all(first_fin_lost.trace.events)
    original, again = _segments(events, "minitcp", "out", "F.")
    (fault,) = [e for e in events if e["kind"] == "fault"]
    assert fault["action"] == "drop" and fault["seg"] == original["id"]
    (retransmit,) = [e for e in events if e["kind"] == "retransmit"]
    assert retransmit["seg"] == again["id"] and not original["retransmit"]
    (arrived,) = _segments(events, "peer", "in", "F.")
    assert arrived["sent"] == again["id"]  # the retransmission arrived, not the lost original
    assert round(again["t"] - original["t"], 3) == 0.204  # one RTO (200 ms) after, on a 4 ms RTT wire
    syn = _segments(events, "minitcp", "out", "S")[0]
    assert syn["tcpdump"].startswith(f"IP {syn['src'].replace(':', '.')} > 198.18.0.1.80: Flags [S], seq ")
    assert syn["options"]["mss"] == 1460 and syn["label"] == "SYN seq=0"


def test_time_wait_gets_a_timer_of_tcp_timewait_len(first_fin_lost: Any) -> None:
    events = WebEvents(timewait_len=60.0).convert_all(first_fin_lost.trace.events)
    (entered,) = [e for e in events if e["kind"] == "state" and e["new"] == "TIME_WAIT"]
    timer = events[entered["id"] + 1]
    assert timer["kind"] == "timer" and timer["timer"] == "TIME_WAIT" and timer["action"] == "set"
    assert timer["host"] == "minitcp" and timer["conn"] == entered["conn"]
    assert timer["deadline"] == pytest.approx(entered["t"] + 60.0)


def test_lab_settings_ask_before_the_retransmission_and_the_right_choice_says_what_happened(
        first_fin_lost: Any) -> None:
    settings = lab_settings(first_fin_lost)
    events = settings["events"]
    again = _segments(events, "minitcp", "out", "F.")[1]
    question = next(q for q in settings["questions"] if q["before"] == again["id"])
    right = question["choices"][question["answer"]]["en"]
    assert right == "minitcp sends FIN seq=1 ack=1 (retransmission) 204 ms later, in FIN_WAIT_1"
    assert len({c["en"] for c in question["choices"]}) == 4
    assert settings["lab"]["verdict"] == "pass"
    counters = next(e for e in events if e["kind"] == "counters" and e["host"] == "minitcp")
    assert counters["moved"]["RetransSegs"] == 1
