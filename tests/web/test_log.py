"""The server's memory of the stream stays bounded: rings per connection, summaries of closed ones."""

from __future__ import annotations

from typing import Any

from minitcp.web.log import EventLog


def _conn_events(first_id: int, conn: str, segments: int) -> list[dict[str, Any]]:
    base = {"host": "minitcp", "conn": conn, "local": "", "remote": ""}
    out = [{**base, "id": first_id, "t": 0.0, "kind": "state", "old": "LISTEN", "new": "ESTABLISHED"}]
    out += [{**base, "id": first_id + 1 + i, "t": 0.1 * i, "kind": "segment", "dir": "out"}
            for i in range(segments)]
    out.append({**base, "id": first_id + segments + 1, "t": 9.0, "kind": "state", "old": "LAST_ACK",
                "new": "CLOSED"})
    return out


def test_a_connection_keeps_only_its_newest_events() -> None:
    log = EventLog(per_conn=10)
    log.add(_conn_events(0, "a b", 100)[:-1])  # still open
    kept = log.replay()
    assert len(kept) == 10 and kept[-1]["id"] == 100


def test_closed_connections_beyond_the_newest_become_summaries_and_replay_skips_what_was_seen() -> None:
    log = EventLog(full_conns=2)
    next_id = 0
    for n in range(5):
        events = _conn_events(next_id, f"198.18.0.1:{1000 + n} 198.18.0.2:80", 3)
        log.add(events)
        next_id += len(events)
    replay = log.replay()
    summaries = [e for e in replay if e["kind"] == "summary"]
    assert [s["conn"].split()[0] for s in summaries] == [f"198.18.0.1:{1000 + n}" for n in range(3)]
    assert summaries[0]["segments"] == 3
    assert summaries[0]["states"] == {"minitcp": ["LISTEN", "ESTABLISHED", "CLOSED"]}
    assert len(log) == 3 + 2 * 5
    assert [e["id"] for e in log.replay(after=next_id - 3)] == [next_id - 2, next_id - 1]


def test_listeners_hear_each_event_as_it_is_added() -> None:
    log = EventLog()
    heard: list[int] = []
    log.listeners.add(lambda e: heard.append(e["id"]))
    log.add(_conn_events(0, "a b", 2))
    assert heard == [0, 1, 2, 3]
