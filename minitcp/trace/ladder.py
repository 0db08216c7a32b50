"""The ladder (sequence) diagram in the terminal.

    time ms   client 198.18.0.1:40000                                  server 198.18.0.2:80
      0.000   CLOSED → SYN_SENT │                                       │
      0.000                     │──────────── SYN seq=0 ───────────────▶│
      0.500                     │                                       │ LISTEN → SYN_RECEIVED

One row per event, time in ms from the first event on the left. Each host's
state changes, drops and (with timers=True) timers are written beside its own
line; a lost segment's arrow stops short with a cross. `ascii=True` draws with
plain ASCII for terminals without box-drawing characters.
"""

from __future__ import annotations

from collections.abc import Iterable

from .diagram import Arrow, Diagram, Note, build_diagram
from .events import Event
from .recorder import Recorder

_UNICODE = {"line": "─", "right": "▶", "left": "◀", "cross": "✕", "life": "│", "to": "→"}
_ASCII = {"line": "-", "right": ">", "left": "<", "cross": "x", "life": "|", "to": "->"}


def render_ladder(
    source: Diagram | Recorder | Iterable[Event],
    *,
    ascii: bool = False,
    timers: bool = False,
    window: bool = False,
    left: str | None = None,
    right: str | None = None,
    conversation: tuple[str, str] | None = None,
) -> str:
    """The whole diagram as text (lines joined by newlines, no trailing newline)."""
    diagram = source if isinstance(source, Diagram) else build_diagram(
        source, left=left, right=right, conversation=conversation, timers=timers, window=window)
    return "\n".join(ladder_lines(diagram, ascii=ascii))


def ladder_lines(diagram: Diagram, *, ascii: bool = False) -> list[str]:
    g = _ASCII if ascii else _UNICODE

    def note_text(n: Note) -> str:
        return n.text.replace("→", g["to"]) if ascii else n.text

    left_notes = [note_text(r) for r in diagram.rows if isinstance(r, Note) and r.col == 0]
    left_w = max([len(diagram.left) - 1, *map(len, left_notes)], default=0)
    labels = [len(r.text) for r in diagram.rows if isinstance(r, Arrow)]
    # Room for the label, its dashes, and a visible gap after a cut-off arrow.
    arrow_w = max([40, *(n + 14 for n in labels)])
    life = g["life"]

    # Each host's name ends (left) or starts (right) on its line.
    lines = [f"{'time ms':>10}  {diagram.left.rjust(left_w + 1)}{' ' * (arrow_w + 1)}{diagram.right}"]
    lines.append(f"{'':10}  {'':{left_w}} {life}{' ' * arrow_w}{life}")
    for row in diagram.rows:
        ms = f"{(row.time - diagram.t0) * 1000:10.3f}"
        if isinstance(row, Note):
            text = note_text(row)
            lnote, rnote = (text, "") if row.col == 0 else ("", text)
            line = f"{ms}  {lnote:>{left_w}} {life}{' ' * arrow_w}{life} {rnote}"
        else:
            line = f"{ms}  {'':{left_w}} {life}{_arrow(row, arrow_w, g)}{life}"
        lines.append(line.rstrip())
    return lines


def _arrow(a: Arrow, width: int, g: dict[str, str]) -> str:
    dash = g["line"]
    text = f" {a.text} "
    if a.lost:
        # Cut off two thirds of the way or just after the label, whichever is further.
        cut = max(width * 2 // 3, len(text) + 7)
        tail = dash * (cut - len(text) - 4)
        if a.src == 0:
            return (dash * 3 + text + tail + g["cross"]).ljust(width)
        return (g["cross"] + tail + text + dash * 3).rjust(width)
    pad = width - len(text) - 1
    before, after = pad // 2, pad - pad // 2
    if a.src == 0:
        return dash * before + text + dash * after + g["right"]
    return g["left"] + dash * after + text + dash * before
