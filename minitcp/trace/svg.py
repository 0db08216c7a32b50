"""The ladder diagram as an SVG picture (one file, no scripts or stylesheets).

Time runs down, one row per event as in the text ladder; each segment is one
`<line class="segment">` from the sender's lifeline, slanting down towards the
receiver, with an arrowhead marker and its label above it. A lost segment is
dashed, stops short and ends in a cross (`<path class="cross">`). Built with
ElementTree, so the output is always well-formed XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from .diagram import Arrow, Diagram, Note, build_diagram
from .events import Event
from .recorder import Recorder

SVG_NS = "http://www.w3.org/2000/svg"
CHAR_W = 7.2  # px per character of 12px monospace, to size the columns
ROW_H = 26
SLANT = 10  # how far an arrow drops on its way across: segments take time to travel
TOP = 56
_COLORS = {"state": "#1f5fa8", "timer": "#777777", "drop": "#b03030", "fault": "#b03030",
           "congestion": "#2a7a3a"}


def render_svg(
    source: Diagram | Recorder | Iterable[Event],
    *,
    timers: bool = False,
    window: bool = False,
    left: str | None = None,
    right: str | None = None,
    conversation: tuple[str, str] | None = None,
) -> str:
    """The diagram as an SVG document (a string starting with `<svg`)."""
    d = source if isinstance(source, Diagram) else build_diagram(
        source, left=left, right=right, conversation=conversation, timers=timers, window=window)
    notes = [r for r in d.rows if isinstance(r, Note)]
    left_chars = max([len(d.left) // 2, *(len(n.text) for n in notes if n.col == 0)])
    right_chars = max([len(d.right) // 2, *(len(n.text) for n in notes if n.col == 1)])
    label_chars = max([30, *(len(r.text) for r in d.rows if isinstance(r, Arrow))])
    x_left = 80 + left_chars * CHAR_W + 12
    x_right = x_left + label_chars * CHAR_W + 80
    width = x_right + right_chars * CHAR_W + 24
    height = TOP + (len(d.rows) + 1) * ROW_H

    svg = ET.Element("svg", {
        "xmlns": SVG_NS, "width": f"{width:.0f}", "height": f"{height:.0f}",
        "viewBox": f"0 0 {width:.0f} {height:.0f}", "font-family": "monospace", "font-size": "12",
    })
    defs = ET.SubElement(svg, "defs")
    marker = ET.SubElement(defs, "marker", {
        "id": "arrowhead", "markerWidth": "10", "markerHeight": "8", "refX": "9", "refY": "4",
        "orient": "auto", "markerUnits": "userSpaceOnUse",
    })
    ET.SubElement(marker, "path", {"d": "M0,0 L10,4 L0,8 z", "fill": "black"})
    ET.SubElement(svg, "rect", {"width": "100%", "height": "100%", "fill": "white"})

    _text(svg, 8, TOP - 30, "time ms", {"fill": "#555555"})
    _text(svg, x_left, TOP - 30, d.left, {"text-anchor": "middle", "font-weight": "bold"})
    _text(svg, x_right, TOP - 30, d.right, {"text-anchor": "middle", "font-weight": "bold"})
    for x in (x_left, x_right):
        ET.SubElement(svg, "line", {"class": "lifeline", "x1": f"{x:.1f}", "y1": f"{TOP - 20}",
                                    "x2": f"{x:.1f}", "y2": f"{height - 8}", "stroke": "#999999",
                                    "stroke-width": "2"})

    for i, row in enumerate(d.rows):
        y = TOP + i * ROW_H
        _text(svg, 8, y + 4, f"{(row.time - d.t0) * 1000:.3f}", {"fill": "#555555"})
        if isinstance(row, Note):
            attrs = {"class": f"note {row.kind}", "fill": _COLORS.get(row.kind, "black")}
            if row.col == 0:
                _text(svg, x_left - 8, y + 4, row.text, {**attrs, "text-anchor": "end"})
            else:
                _text(svg, x_right + 8, y + 4, row.text, attrs)
        else:
            _arrow(svg, row, x_left, x_right, y)
    return ET.tostring(svg, encoding="unicode")


def write_svg(path: str | Path, source: Diagram | Recorder | Iterable[Event], **kwargs: object) -> None:
    svg = render_svg(source, **kwargs)  # type: ignore[arg-type]
    Path(path).write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + svg + "\n", encoding="utf-8")


def _text(parent: ET.Element, x: float, y: float, text: str, attrs: dict[str, str]) -> ET.Element:
    el = ET.SubElement(parent, "text", {"x": f"{x:.1f}", "y": f"{y:.1f}", **attrs})
    el.text = text
    return el


def _arrow(svg: ET.Element, a: Arrow, x_left: float, x_right: float, y: float) -> None:
    x1, x2 = (x_left, x_right) if a.src == 0 else (x_right, x_left)
    y2 = y + SLANT
    color = "#b03030" if a.lost else ("#c06000" if "retransmit" in a.tags else "black")
    attrs = {"class": "segment lost" if a.lost else "segment", "x1": f"{x1:.1f}", "y1": f"{y:.1f}",
             "stroke": color, "stroke-width": "1.5"}
    if a.lost:
        # Stop two thirds of the way across and mark the spot with a cross.
        xe, ye = x1 + (x2 - x1) * 2 / 3, y + SLANT * 2 / 3
        attrs.update({"x2": f"{xe:.1f}", "y2": f"{ye:.1f}", "stroke-dasharray": "6 4"})
        ET.SubElement(svg, "line", attrs)
        r = 5
        ET.SubElement(svg, "path", {
            "class": "cross", "stroke": color, "stroke-width": "2",
            "d": f"M{xe - r:.1f},{ye - r:.1f} L{xe + r:.1f},{ye + r:.1f} M{xe - r:.1f},{ye + r:.1f} "
                 f"L{xe + r:.1f},{ye - r:.1f}",
        })
    else:
        attrs.update({"x2": f"{x2:.1f}", "y2": f"{y2:.1f}", "marker-end": "url(#arrowhead)"})
        ET.SubElement(svg, "line", attrs)
    label = {"class": "label", "text-anchor": "middle", "fill": color}
    _text(svg, (x_left + x_right) / 2, y - 3, a.text, label)
