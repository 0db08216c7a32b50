"""Draw docs/tcp-states.svg from the state machine's table: `python docs/make_state_diagram.py`.

As h11's make-state-diagrams.py does, the picture is made from the table the code checks
(`minitcp.tcp.states.TRANSITIONS`), so it cannot drift from it: the test
tests/test_docs_state_diagram.py fails when the checked-in SVG is stale. The layout is RFC 9293
figure 5's, by hand: each state has its place and each edge of the figure its route. Every
other edge of the table ends the connection; those are listed beside the figure, state by
state, rather than drawn as some sixty arrows into CLOSED. Standard library only.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from minitcp.tcp.states import TRANSITIONS, Event, State

SVG_PATH = Path(__file__).with_name("tcp-states.svg")
SVG_NS = "http://www.w3.org/2000/svg"

WIDTH, HEIGHT = 1240, 760
CHAR_W = 6.6  # px per character of 11px monospace, to wrap the list of endings
BOX_W, BOX_H = 130, 44
HALF_W, HALF_H = BOX_W // 2, BOX_H // 2
# Figure 5's three columns and seven rows (box centres).
LEFT, MID, RIGHT = 150, 400, 650
R0, R1, R2, R3, R4, R5, R6 = 70, 160, 260, 370, 480, 590, 700
PANEL_X = 790  # where the list of edges to CLOSED starts
BLUE, GREY = "#1f5fa8", "#666666"

# Where each state's box is. CLOSED has two, as in the RFC's figure: where a connection
# starts (top) and where it ends (bottom right).
BOXES: list[tuple[State, int, int]] = [
    (State.CLOSED, MID, R0),
    (State.LISTEN, MID, R1),
    (State.SYN_RECEIVED, LEFT, R2),
    (State.SYN_SENT, RIGHT, R2),
    (State.ESTABLISHED, MID, R3),
    (State.FIN_WAIT_1, LEFT, R4),
    (State.CLOSE_WAIT, RIGHT, R4),
    (State.FIN_WAIT_2, LEFT, R5),
    (State.CLOSING, MID, R5),
    (State.LAST_ACK, RIGHT, R5),
    (State.TIME_WAIT, MID, R6),
    (State.CLOSED, RIGHT, R6),
]


@dataclass(frozen=True)
class Route:
    """How one edge is drawn: a line through `points`, from the edge of the source's box to
    the edge of the target's, with the event's name at `label` and below it `action`, what
    the figure says is sent (or done to the TCB)."""

    points: tuple[tuple[int, int], ...]
    label: tuple[int, int]
    anchor: str = "middle"  # SVG text-anchor: "start" right of a vertical line, "end" left of it
    action: str = ""


def _beside(x: int, y0: int, y1: int, side: int, action: str) -> Route:
    """A vertical line from (x, y0) to (x, y1), labelled on its right (side 1) or left (-1)."""
    return Route(((x, y0), (x, y1)), (x + 6 * side, (y0 + y1) // 2 - 2),
                 "start" if side > 0 else "end", action)


# The edges RFC 9293 figure 5 draws (as states.py keeps them), routed as the figure routes them.
ROUTES: dict[tuple[State, Event], Route] = {
    (State.CLOSED, Event.PASSIVE_OPEN): _beside(MID - 25, R0 + HALF_H, R1 - HALF_H, -1, "create TCB"),
    (State.LISTEN, Event.CLOSE): _beside(MID + 25, R1 - HALF_H, R0 + HALF_H, 1, "delete TCB"),
    (State.CLOSED, Event.ACTIVE_OPEN): Route(
        ((MID + HALF_W, R0 - 10), (RIGHT + 25, R0 - 10), (RIGHT + 25, R2 - HALF_H)),
        (RIGHT + 31, (R0 + R2) // 2), "start", "snd SYN"),
    (State.SYN_SENT, Event.CLOSE): Route(
        ((RIGHT - 25, R2 - HALF_H), (RIGHT - 25, R0 + 10), (MID + HALF_W, R0 + 10)),
        (RIGHT - 31, (R0 + R2) // 2), "end", "delete TCB"),
    (State.LISTEN, Event.RCV_SYN): Route(
        ((MID - HALF_W, R1), (LEFT, R1), (LEFT, R2 - HALF_H)),
        ((LEFT + MID - HALF_W) // 2, R1 - 6), action="snd SYN,ACK"),
    (State.SYN_SENT, Event.RCV_SYN): Route(
        ((RIGHT - HALF_W, R2), (LEFT + HALF_W, R2)), (MID, R2 - 6), action="snd SYN,ACK"),
    (State.SYN_SENT, Event.RCV_SYN_ACK): Route(
        ((RIGHT, R2 + HALF_H), (RIGHT, R3), (MID + HALF_W, R3)),
        (RIGHT + 6, (R2 + R3) // 2), "start", "snd ACK"),
    (State.SYN_RECEIVED, Event.RCV_ACK_OF_SYN): Route(
        ((LEFT + 25, R2 + HALF_H), (LEFT + 25, R3), (MID - HALF_W, R3)),
        ((LEFT + 25 + MID - HALF_W) // 2, R3 - 6)),
    (State.SYN_RECEIVED, Event.CLOSE): _beside(LEFT - 30, R2 + HALF_H, R4 - HALF_H, -1, "snd FIN"),
    (State.ESTABLISHED, Event.CLOSE): Route(
        ((MID - 25, R3 + HALF_H), (MID - 25, R4), (LEFT + HALF_W, R4)),
        ((LEFT + HALF_W + MID - 25) // 2, R4 - 6), action="snd FIN"),
    (State.ESTABLISHED, Event.RCV_FIN): Route(
        ((MID + 25, R3 + HALF_H), (MID + 25, R4), (RIGHT - HALF_W, R4)),
        ((MID + 25 + RIGHT - HALF_W) // 2, R4 - 6), action="snd ACK"),
    (State.FIN_WAIT_1, Event.RCV_ACK_OF_FIN): _beside(LEFT - 30, R4 + HALF_H, R5 - HALF_H, -1, ""),
    (State.FIN_WAIT_1, Event.RCV_FIN): Route(
        ((LEFT + 30, R4 + HALF_H), (LEFT + 30, R5 - 45), (MID - 30, R5 - 45), (MID - 30, R5 - HALF_H)),
        ((LEFT + MID) // 2, R5 - 51), action="snd ACK"),
    (State.FIN_WAIT_2, Event.RCV_FIN): Route(
        ((LEFT, R5 + HALF_H), (LEFT, R6), (MID - HALF_W, R6)),
        ((LEFT + MID - HALF_W) // 2, R6 - 6), action="snd ACK"),
    (State.CLOSE_WAIT, Event.CLOSE): _beside(RIGHT, R4 + HALF_H, R5 - HALF_H, 1, "snd FIN"),
    (State.CLOSING, Event.RCV_ACK_OF_FIN): _beside(MID, R5 + HALF_H, R6 - HALF_H, 1, ""),
    (State.LAST_ACK, Event.RCV_ACK_OF_FIN): _beside(RIGHT, R5 + HALF_H, R6 - HALF_H, 1, "delete TCB"),
    (State.TIME_WAIT, Event.TIMEOUT_2MSL): Route(
        ((MID + HALF_W, R6), (RIGHT - HALF_W, R6)), ((MID + RIGHT) // 2, R6 - 6), action="delete TCB"),
}


def render() -> str:
    """The diagram as an SVG document, from TRANSITIONS; raises ValueError if the table has an
    edge the layout cannot show (a new edge not to CLOSED needs a route in ROUTES)."""
    svg = ET.Element("svg", {
        "xmlns": SVG_NS, "width": str(WIDTH), "height": str(HEIGHT), "viewBox": f"0 0 {WIDTH} {HEIGHT}",
        "font-family": "monospace", "font-size": "11",
    })
    defs = ET.SubElement(svg, "defs")
    marker = ET.SubElement(defs, "marker", {
        "id": "arrowhead", "markerWidth": "10", "markerHeight": "8", "refX": "9", "refY": "4",
        "orient": "auto", "markerUnits": "userSpaceOnUse",
    })
    ET.SubElement(marker, "path", {"d": "M0,0 L10,4 L0,8 z", "fill": "black"})
    ET.SubElement(svg, "rect", {"width": "100%", "height": "100%", "fill": "white"})
    _text(svg, 20, 24, "TCP connection states: RFC 9293 figure 5, as minitcp (and Linux) take it",
          {"font-size": "14", "font-weight": "bold"})

    for route_key in ROUTES:
        if route_key not in TRANSITIONS:
            raise ValueError(f"ROUTES draws {route_key[0].name} on {route_key[1].name}, "
                             "which is not in TRANSITIONS")
    for state, x, y in BOXES:
        _box(svg, state, x, y)
    endings: dict[State, list[Event]] = defaultdict(list)
    for (state, event), target in TRANSITIONS.items():
        route = ROUTES.get((state, event))
        if route is not None:
            _check_ends(route, state, target)
            _edge(svg, event, route)
        elif target == State.CLOSED:
            endings[state].append(event)
        else:
            raise ValueError(f"{state.name} on {event.name} -> {target.name} has no route: add one to ROUTES")
    _endings(svg, endings)
    ET.indent(svg)  # one element a line: a change to the table shows as a readable diff
    return ET.tostring(svg, encoding="unicode") + "\n"


def _check_ends(route: Route, source: State, target: State) -> None:
    """A route must start on a box of its source state and end on a box of its target."""
    for state, point in ((source, route.points[0]), (target, route.points[-1])):
        if not any(s == state and _on_edge(point, x, y) for s, x, y in BOXES):
            raise ValueError(f"route of {source.name} -> {target.name}: {point} is not on a {state.name} box")


def _on_edge(point: tuple[int, int], x: int, y: int) -> bool:
    px, py = point
    inside = abs(px - x) <= HALF_W and abs(py - y) <= HALF_H
    return inside and (abs(px - x) == HALF_W or abs(py - y) == HALF_H)


def _edge(svg: ET.Element, event: Event, route: Route) -> None:
    ET.SubElement(svg, "polyline", {
        "class": "edge", "points": " ".join(f"{x},{y}" for x, y in route.points), "fill": "none",
        "stroke": "black", "stroke-width": "1.2", "marker-end": "url(#arrowhead)",
    })
    x, y = route.label
    _text(svg, x, y, event.value, {"text-anchor": route.anchor, "class": "event"})
    if route.action:
        _text(svg, x, y + 13, route.action, {"text-anchor": route.anchor, "fill": GREY, "class": "action"})


def _box(svg: ET.Element, state: State, x: int, y: int) -> None:
    ET.SubElement(svg, "rect", {
        "class": "state", "x": str(x - HALF_W), "y": str(y - HALF_H), "width": str(BOX_W),
        "height": str(BOX_H), "rx": "6", "fill": "#eef3fb", "stroke": BLUE, "stroke-width": "1.5",
    })
    _text(svg, x, y - 3, state.name.replace("_", "-"),
          {"text-anchor": "middle", "font-size": "12", "font-weight": "bold", "fill": BLUE})
    _text(svg, x, y + 13, f"ss: {state.ss_name}", {"text-anchor": "middle", "fill": GREY})


def _endings(svg: ET.Element, endings: dict[State, list[Event]]) -> None:
    """The edges to CLOSED that figure 5 leaves out, grouped by the state they leave."""
    y = 70
    _text(svg, PANEL_X, y - 22, "Also to CLOSED (figure 5's note 3, and Linux):",
          {"font-size": "12", "font-weight": "bold"})
    per_line = int((WIDTH - PANEL_X - 30) / CHAR_W)
    for state in State:
        if state not in endings:
            continue
        _text(svg, PANEL_X, y, state.name.replace("_", "-"), {"font-weight": "bold", "fill": BLUE})
        y += 15
        for line in _pack([event.value for event in endings[state]], per_line):
            _text(svg, PANEL_X + 14, y, line, {"class": "ending"})
            y += 14
        y += 8
    for i, note in enumerate(("Each event is a member of minitcp.tcp.states.Event; its comment",
                              "cites the RFC section or the Linux function it follows.")):
        _text(svg, PANEL_X, y + 8 + 14 * i, note, {"fill": GREY})


def _pack(items: list[str], width: int) -> list[str]:
    """Items joined by " · " into lines of at most `width` characters, never splitting one."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 3 + len(item) <= width:
            lines[-1] += " · " + item
        else:
            lines.append(item)
    return lines


def _text(parent: ET.Element, x: float, y: float, text: str, attrs: dict[str, str]) -> None:
    el = ET.SubElement(parent, "text", {"x": f"{x:g}", "y": f"{y:g}", **attrs})
    el.text = text


def main() -> int:
    SVG_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {SVG_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
