# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""A lab in the browser: its trace as web events, stepped, with "what happens next?" questions.

Before each important segment (a retransmission, a FIN, a RST) the page stops and asks what
comes next. Every choice is said from the lab's own trace: the right one is what happened
(which side sent what, when, in which state it was); the others change one of those three
(the other side, another time, nothing at all), so a learner who guesses must know all three.
The lab's checks and verdict follow the last event, as `minitcp lab` prints them.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

from minitcp.labs.base import HOST, PEER_HOST, Result
from minitcp.trace import words

from .events import WebEvents, counters_event

WebEvent = dict[str, Any]


def lab_settings(result: Result, lang: str = "en", timewait_len: float = 60.0) -> dict[str, Any]:
    """The page's settings for a lab run: its events, its questions, its verdict."""
    web = WebEvents(timewait_len=timewait_len)
    events = web.convert_all(result.trace.events)
    end = max((e.time for e in result.trace.events), default=0.0)
    for host, moved in result.counters.items():
        if moved:
            events.append(counters_event(web, end, host, moved))
    lab = result.lab
    return {
        "mode": "lab", "lang": lang, "left": HOST, "events": events,
        "questions": questions(events),
        "lab": {"name": lab.name, "title": lab.title, "title_zh": lab.title_zh, "en": lab.en, "zh": lab.zh,
                "checks": [dataclasses.asdict(c) for c in result.checks], "verdict": result.verdict,
                "error": result.error},
    }


def important(e: WebEvent) -> bool:
    """A segment worth a question: a retransmission, a FIN or a RST, as its sender sent it (or as
    minitcp received it from a peer that recorded nothing)."""
    if e["kind"] != "segment" or (e["dir"] == "in" and e.get("sent") is not None):
        return False
    return bool(e["retransmit"]) or "F" in e["flags"] or "R" in e["flags"]


def questions(events: list[WebEvent]) -> list[dict[str, Any]]:
    retransmitted = {e["seg"] for e in events if e["kind"] == "retransmit"}
    peer = next((e["host"] for e in events if e["host"] != HOST), PEER_HOST)  # "peer", or "linux"
    unclaimed: dict[str, str] = {}  # conn -> a host that said it retransmitted (tracepoints), not what
    state: dict[str, str] = {}  # host -> its state so far
    asked: list[dict[str, Any]] = []
    previous_t = 0.0
    for e in events:
        if e["kind"] == "state":
            state[e["host"]] = e["new"]
        if e["kind"] == "retransmit" and e["seg"] is None:
            unclaimed[e["conn"]] = e["host"]
        again = e["kind"] == "segment" and (e["retransmit"] or e["id"] in retransmitted)
        if e["kind"] == "segment" and e["dir"] == "in" and e.get("sent") is None \
                and unclaimed.get(e["conn"], e["host"]) != e["host"]:
            again = True  # the next segment from that host is the one (as trace/diagram.py marks it)
            del unclaimed[e["conn"]]
        if e["kind"] == "segment" and important(dict(e, retransmit=again)):
            sender = e["host"] if e["dir"] == "out" else peer
            asked.append(_question(e, sender, peer, dict(state), again, previous_t))
        if e["kind"] in ("segment", "call", "state"):
            previous_t = e["t"]
    return asked


def _question(e: WebEvent, sender: str, peer: str, states: dict[str, str], retransmit: bool,
              since: float) -> dict[str, Any]:
    other = peer if sender == HOST else HOST
    wait = e["t"] - since

    def says(who: str, after: float, zh: bool) -> str:
        lang = "zh" if zh else "en"
        name = words.host_name(who, lang)
        what = e["label"] + (("（重传）" if zh else " (retransmission)") if retransmit else "")
        where = states.get(who, "?")
        if zh:
            return f"{after * 1000:.0f} ms 后，{name} 发送 {what}（状态 {where}）"
        return f"{name} sends {what} {after * 1000:.0f} ms later, in {where}"

    choices = [(says(sender, wait, False), says(sender, wait, True)),
               (says(other, wait, False), says(other, wait, True)),
               (says(sender, max(wait * 3, 0.2) + 0.8, False), says(sender, max(wait * 3, 0.2) + 0.8, True)),
               ("nothing more is sent: the connection just waits", "什么也不再发送：连接只是等待")]
    # A fixed shuffle per segment (the same page always asks the same way).
    turn = zlib.crc32(f"{e['id']}{e['label']}".encode()) % len(choices)
    order = choices[turn:] + choices[:turn]
    return {"before": e["id"], "answer": order.index(choices[0]),
            "choices": [{"en": en, "zh": zh} for en, zh in order],
            "why": {"en": says(sender, wait, False), "zh": says(sender, wait, True)}}
