"""The ladder diagram as SVG: well-formed, one arrow per segment, lost ones dashed and crossed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from minitcp.faults import FaultInjector
from minitcp.tcp.pair import EnginePair
from minitcp.trace.recorder import Recorder
from minitcp.trace.svg import render_svg, write_svg

from ..helpers.pairs import full_life, pair_connect

NS = "{http://www.w3.org/2000/svg}"


def elements(svg: str, tag: str, cls: str | None = None) -> list[ET.Element]:
    root = ET.fromstring(svg)
    found = root.iter(NS + tag)
    return [e for e in found if cls is None or cls in (e.get("class") or "").split()]


def test_whole_connection_as_svg() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    full_life(p)
    svg = render_svg(rec)
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg"
    arrows = elements(svg, "line", "segment")
    assert len(arrows) == len(p.wire) == 11  # one arrow per segment put on the wire
    assert all(a.get("marker-end") == "url(#arrowhead)" for a in arrows)
    assert not elements(svg, "line", "lost") and not elements(svg, "path", "cross")
    assert len(elements(svg, "line", "lifeline")) == 2
    texts = [t.text for t in root.iter(NS + "text")]
    assert "client 198.18.0.1:40000" in texts and "server 198.18.0.2:80" in texts
    assert "FIN seq=101 ack=301" in texts and "ESTABLISHED → FIN_WAIT_1" in texts
    assert texts.index("ESTABLISHED → FIN_WAIT_1") < texts.index("FIN seq=101 ack=301")
    # Client -> server arrows go right and down; server -> client ones go left.
    first, second = arrows[0], arrows[1]
    assert float(first.get("x2") or 0) > float(first.get("x1") or 0)
    assert float(first.get("y2") or 0) > float(first.get("y1") or 0)
    assert float(second.get("x2") or 0) < float(second.get("x1") or 0)


def test_lost_segments_are_dashed_and_end_in_a_cross(tmp_path: Path) -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    FaultInjector(["drop:dir=out,flags=F,count=2"], observer=rec.host("client")).attach(p)
    client, _ = pair_connect(p)
    client.close(p.now)
    p.run_for(2.0)
    path = tmp_path / "close.svg"
    write_svg(path, rec)
    svg = path.read_text(encoding="utf-8")
    assert svg.startswith("<?xml")
    tree = ET.parse(path)  # well-formed as a file too
    assert tree.getroot().tag == NS + "svg"
    lost = elements(svg, "line", "lost")
    assert len(lost) == 2
    assert all(e.get("stroke-dasharray") and e.get("marker-end") is None for e in lost)
    assert len(elements(svg, "path", "cross")) == 2
    arrows = elements(svg, "line", "segment")
    assert len(arrows) == len(p.wire)
    assert sum(1 for e in arrows if e.get("stroke-dasharray")) == 2
    labels = [t.text or "" for t in ET.fromstring(svg).iter(NS + "text")]
    assert sum("[dropped]" in t for t in labels) == 2
    assert any("(retransmit)" in t and "[dropped]" not in t for t in labels)


def test_text_is_escaped_and_timers_optional() -> None:
    p = EnginePair()
    rec = Recorder().watch(p, a="client <a&b>", b="server")
    pair_connect(p)
    svg = render_svg(rec, timers=True)
    texts = [t.text or "" for t in ET.fromstring(svg).iter(NS + "text")]
    assert "client <a&b> 198.18.0.1:40000" in texts
    assert any(t.startswith("timer RTO set") for t in texts)
    assert "&lt;a&amp;b&gt;" in svg
