"""The ladder diagram as an SVG picture (one file, no scripts or stylesheets).

Time runs down to scale (timescale.py: distance proportional to time, events
at one instant stacked a line apart, long idle spans cut by a marked break);
each segment is one `<line class="segment">` from the sender's lifeline when
it left to the receiver's when it arrived (so segments in flight cross), with
an arrowhead marker and its label above it; `data-t` holds each row's time.
With several connections, each has its colour. A lost segment is
dashed, stops short and ends in a cross (`<path class="cross">`). Built with
ElementTree, so the output is always well-formed XML.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Unpack

from .diagram import Arrow, Diagram, DiagramOptions, Note, diagram_of
from .events import Event
from .recorder import Recorder
from .timescale import lay_out
from .words import duration, heading, width

SVG_NS = "http://www.w3.org/2000/svg"
CHAR_W = 7.2  # px per character of 12px monospace, to size the columns
LINE_H = 16  # px per row of text: rows at one instant are stacked this far apart
TOP = 56
HEIGHT = 1800  # px the time scale may take before it shrinks to fit (timescale.py)
BREAK_H = 36  # px a break (a long idle span) takes
LABEL_AT = 0.06  # where along a slanted arrow its label begins, from the sender
_COLORS = {"state": "#1f5fa8", "timer": "#777777", "drop": "#b03030", "fault": "#b03030", "call": "#2e7d32",
           "retransmit": "#c06000",
           "congestion": "#2a7a3a"}
# One colour per connection when several are drawn (ColorBrewer's Dark2, readable on white).
CONN_COLORS = ("#000000", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")


def render_svg(source: Diagram | Recorder | Iterable[Event], **options: Unpack[DiagramOptions]) -> str:
    """The diagram as an SVG document (a string starting with `<svg`)."""
    d = diagram_of(source, **options)
    notes = [r for r in d.rows if isinstance(r, Note)]
    left_chars = max([width(d.left) // 2, *(width(n.text) for n in notes if n.col == 0)])
    right_chars = max([width(d.right) // 2, *(width(n.text) for n in notes if n.col == 1)])
    label_chars = max([30, *(width(r.text) for r in d.rows if isinstance(r, Arrow))])
    x_left = 80 + left_chars * CHAR_W + 12
    x_right = x_left + label_chars * CHAR_W + 80
    width_ = max(x_right + right_chars * CHAR_W + 24, 8 + max([0, *map(width, d.others)]) * CHAR_W)
    arrivals = [r.arrive for r in d.rows if isinstance(r, Arrow) and r.arrive is not None]
    places = _stack(d.rows)
    needed = [t for t, k in {(r.time, k) for r, k in zip(d.rows, places, strict=True)}]
    scale = lay_out(needed, arrivals, line=LINE_H, target=HEIGHT, break_len=BREAK_H,
                    top=TOP)
    height = scale.end + LINE_H * (2 + len(d.others))

    svg = ET.Element("svg", {
        "xmlns": SVG_NS, "width": f"{width_:.0f}", "height": f"{height:.0f}",
        "viewBox": f"0 0 {width_:.0f} {height:.0f}", "font-family": "monospace", "font-size": "12",
    })
    ET.SubElement(svg, "desc").text = (
        f"Ladder diagram; time runs down at {scale.scale / 1000:.4g} px per ms, except where "
        "events at one instant are stacked and at marked breaks.")
    defs = ET.SubElement(svg, "defs")
    for i, color in enumerate(CONN_COLORS):
        marker = ET.SubElement(defs, "marker", {
            "id": f"arrowhead{i or ''}", "markerWidth": "10", "markerHeight": "8", "refX": "9", "refY": "4",
            "orient": "auto", "markerUnits": "userSpaceOnUse",
        })
        ET.SubElement(marker, "path", {"d": "M0,0 L10,4 L0,8 z", "fill": color})
    ET.SubElement(svg, "rect", {"width": "100%", "height": "100%", "fill": "white"})

    _text(svg, 8, TOP - 30, heading("time", d.lang), {"fill": "#555555"})
    _text(svg, x_left, TOP - 30, d.left, {"text-anchor": "middle", "font-weight": "bold"})
    _text(svg, x_right, TOP - 30, d.right, {"text-anchor": "middle", "font-weight": "bold"})
    for x in (x_left, x_right):
        ET.SubElement(svg, "line", {"class": "lifeline", "x1": f"{x:.1f}", "y1": f"{TOP - 20}",
                                    "x2": f"{x:.1f}", "y2": f"{scale.end + LINE_H:.1f}", "stroke": "#999999",
                                    "stroke-width": "2"})
    for y, frm, to in scale.breaks:
        later = heading("later", d.lang).format(duration(to - frm, d.lang))
        _break(svg, y + BREAK_H / 2, x_left, x_right, later)

    for row, k in zip(d.rows, places, strict=True):
        y = scale.y(row.time) + k * LINE_H
        attrs = {"data-t": f"{row.time - d.t0:.6f}"}
        if k == 0:
            _text(svg, 8, y + 4, f"{(row.time - d.t0) * 1000:.3f}", {"fill": "#555555", **attrs})
        if isinstance(row, Note):
            attrs.update({"class": f"note {row.kind}", "fill": _COLORS.get(row.kind, "black")})
            if row.col == 0:
                _text(svg, x_left - 8, y + 4, row.text, {**attrs, "text-anchor": "end"})
            else:
                _text(svg, x_right + 8, y + 4, row.text, attrs)
        else:
            y_end = max(y, scale.y(row.arrive)) if row.arrive is not None else y
            _arrow(svg, row, x_left, x_right, y, y_end, d.conns > 1, d.t0)
    for i, line in enumerate(d.others):
        _text(svg, 8, scale.end + LINE_H * (i + 2), line, {"class": "others", "fill": "#555555"})
    return ET.tostring(svg, encoding="unicode")


def _stack(rows: list[Arrow | Note]) -> list[int]:
    """Each row's place among the rows of its instant: notes stack in their own column, an arrow
    spans both (so a note beside one lifeline and a note beside the other share a line)."""
    used: dict[float, list[int]] = {}  # instant -> lines taken in the left and right columns
    places = []
    for row in rows:
        cols = used.setdefault(row.time, [0, 0])
        if isinstance(row, Note):
            k = cols[row.col]
            cols[row.col] = k + 1
        else:
            k = max(cols)
            cols[0] = cols[1] = k + 1
        places.append(k)
    return places


def write_svg(path: str | Path, source: Diagram | Recorder | Iterable[Event],
              **options: Unpack[DiagramOptions]) -> None:
    svg = render_svg(source, **options)
    Path(path).write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + svg + "\n", encoding="utf-8")


def _text(parent: ET.Element, x: float, y: float, text: str, attrs: dict[str, str]) -> ET.Element:
    el = ET.SubElement(parent, "text", {"x": f"{x:.1f}", "y": f"{y:.1f}", **attrs})
    el.text = text
    return el


def _break(svg: ET.Element, y: float, x_left: float, x_right: float, text: str) -> None:
    """A long idle span: both lifelines cut by a zigzag, and how long it was."""
    for x in (x_left, x_right):
        ET.SubElement(svg, "rect", {"x": f"{x - 6:.1f}", "y": f"{y - 8:.1f}", "width": "12", "height": "16",
                                    "fill": "white"})
        ET.SubElement(svg, "path", {"class": "break", "stroke": "#999999", "fill": "none",
                                    "stroke-width": "2",
                                    "d": f"M{x - 6:.1f},{y - 4:.1f} L{x + 6:.1f},{y - 8:.1f} "
                                         f"M{x - 6:.1f},{y + 8:.1f} L{x + 6:.1f},{y + 4:.1f}"})
    _text(svg, (x_left + x_right) / 2, y + 4, f"≈ {text} ≈",
          {"class": "break", "text-anchor": "middle", "fill": "#555555", "font-style": "italic"})


def _arrow(svg: ET.Element, a: Arrow, x_left: float, x_right: float, y: float, y2: float, colored: bool,
           t0: float) -> None:
    """One segment, from its sender's lifeline at `y` (sent) to the receiver's at `y2` (arrived)."""
    x1, x2 = (x_left, x_right) if a.src == 0 else (x_right, x_left)
    hue = a.conn % len(CONN_COLORS) if colored else 0
    color = "#b03030" if a.lost else ("#c06000" if "retransmit" in a.tags else CONN_COLORS[hue])
    attrs = {"class": "segment lost" if a.lost else "segment", "x1": f"{x1:.1f}", "y1": f"{y:.1f}",
             "stroke": color, "stroke-width": "1.5", "data-t": f"{a.time - t0:.6f}"}
    if a.arrive is not None:
        attrs["data-arrive"] = f"{a.arrive - t0:.6f}"
    if colored:
        attrs["data-conn"] = str(a.conn)
    if a.lost:
        # Stop two thirds of the way across and mark the spot with a cross.
        xe, ye = x1 + (x2 - x1) * 2 / 3, y + LINE_H * 2 / 3
        attrs.update({"x2": f"{xe:.1f}", "y2": f"{ye:.1f}", "stroke-dasharray": "6 4"})
        ET.SubElement(svg, "line", attrs)
        r = 5
        ET.SubElement(svg, "path", {
            "class": "cross", "stroke": color, "stroke-width": "2",
            "d": f"M{xe - r:.1f},{ye - r:.1f} L{xe + r:.1f},{ye + r:.1f} M{xe - r:.1f},{ye + r:.1f} "
                 f"L{xe + r:.1f},{ye - r:.1f}",
        })
    else:
        marker = f"url(#arrowhead{hue or ''})" if color == CONN_COLORS[hue] and hue else "url(#arrowhead)"
        attrs.update({"x2": f"{x2:.1f}", "y2": f"{y2:.1f}", "marker-end": marker})
        ET.SubElement(svg, "line", attrs)
    text = f"#{a.conn} {a.text}" if colored and a.conn else a.text
    # Slanted arrows carry their label from the sender's end, along the line: two arrows crossing
    # in the middle keep their labels apart. A level one has it in the middle.
    slanted = abs(y2 - y) > 1 and not a.lost
    label = {"class": "label", "fill": color,
             "text-anchor": "middle" if not slanted else ("start" if a.src == 0 else "end")}
    at = LABEL_AT if slanted else 0.5
    xm, ym = x1 + (x2 - x1) * at, y + (y2 - y) * at
    angle = math.degrees(math.atan2(y2 - y, x2 - x1)) if not a.lost else 0.0
    if angle > 90 or angle < -90:
        angle -= 180 if angle > 0 else -180  # right to left: keep the text upright
    if abs(angle) > 0.05:
        # Along the slanted arrow, just above it, so the line never runs through the text.
        label["transform"] = f"rotate({angle:.2f} {xm:.1f} {ym:.1f})"
    _text(svg, xm, ym - 4, text, label)
