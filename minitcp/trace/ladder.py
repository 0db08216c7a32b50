"""The ladder (sequence) diagram in the terminal.

    time ms   client 198.18.0.1:40000                                  server 198.18.0.2:80
      0.000   CLOSED → SYN_SENT │                                       │
      0.000                     │──────────── SYN seq=0 ───────────────▶│
      0.500                     │                                       │ LISTEN → SYN_RECEIVED

One row per event, time in ms from the first event on the left, spaced to
scale (timescale.py: blank lines stand for time passing; a long idle span is
one `≈ 60.0 s later ≈` line). Each host's
state changes, drops and (with timers=True) timers are written beside its own
line; a lost segment's arrow stops short with a cross. `ascii=True` draws with
plain ASCII for terminals without box-drawing characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Unpack

from .diagram import Arrow, Diagram, DiagramOptions, Note, diagram_of
from .events import Event
from .recorder import Recorder
from .timescale import lay_out
from .words import duration, heading, width

TEXT_LINES = 24  # the most blank lines the time scale may add (long runs shrink to fit)

_UNICODE = {"line": "─", "right": "▶", "left": "◀", "cross": "✕", "life": "│", "to": "→"}
_ASCII = {"line": "-", "right": ">", "left": "<", "cross": "x", "life": "|", "to": "->"}


def render_ladder(source: Diagram | Recorder | Iterable[Event], *, ascii: bool = False,
                  **options: Unpack[DiagramOptions]) -> str:
    """The whole diagram as text (lines joined by newlines, no trailing newline)."""
    return "\n".join(ladder_lines(diagram_of(source, **options), ascii=ascii))


def _rjust(text: str, n: int) -> str:
    return " " * (n - width(text)) + text


def ladder_lines(diagram: Diagram, *, ascii: bool = False) -> list[str]:
    g = _ASCII if ascii else _UNICODE

    def note_text(n: Note) -> str:
        return n.text.replace("→", g["to"]).replace("\u2014", "-") if ascii else n.text

    def label(a: Arrow) -> str:
        # With several connections drawn, each arrow says whose it is.
        return f"#{a.conn} {a.text}" if diagram.conns > 1 and a.conn else a.text

    left_notes = [note_text(r) for r in diagram.rows if isinstance(r, Note) and r.col == 0]
    left_w = max([width(diagram.left) - 1, *map(width, left_notes)], default=0)
    labels = [width(label(r)) for r in diagram.rows if isinstance(r, Arrow)]
    # Room for the label, its dashes, and a visible gap after a cut-off arrow.
    arrow_w = max([40, *(n + 14 for n in labels)])
    life = g["life"]
    blank = f"{'':10}  {'':{left_w}} {life}{' ' * arrow_w}{life}"

    # Each host's name ends (left) or starts (right) on its line.
    time_word = heading("time", diagram.lang)
    head = f"{_rjust(time_word, 10)}  {_rjust(diagram.left, left_w + 1)}"
    lines = [f"{head}{' ' * (arrow_w + 1)}{diagram.right}"]
    lines.append(blank)
    scale = lay_out([r.time for r in diagram.rows], line=1, target=TEXT_LINES, break_len=1)
    breaks = {to: (frm, to) for _, frm, to in scale.breaks}
    at = 0  # lines drawn since the first row
    for row in diagram.rows:
        want = round(scale.y(row.time))
        if row.time in breaks and at < want:
            frm, to = breaks.pop(row.time)
            lines += [blank] * max(want - at - 1, 0)
            marker = f"≈ {heading('later', diagram.lang).format(duration(to - frm, diagram.lang))} ≈"
            if ascii:
                marker = marker.replace("≈", "~")
            centred = marker.center(arrow_w + 2 - (width(marker) - len(marker)))
            lines.append(f"{'':10}  {'':{left_w}} {centred}")
            at = want
        lines += [blank] * max(want - at, 0)
        at = max(at, want) + 1
        ms = f"{(row.time - diagram.t0) * 1000:10.3f}"
        if isinstance(row, Note):
            text = note_text(row)
            lnote, rnote = (text, "") if row.col == 0 else ("", text)
            line = f"{ms}  {_rjust(lnote, left_w)} {life}{' ' * arrow_w}{life} {rnote}"
        else:
            line = f"{ms}  {'':{left_w}} {life}{_arrow(row, label(row), arrow_w, g)}{life}"
        lines.append(line.rstrip())
    lines += [f"{'':10}  {other}" for other in diagram.others]
    return [line.rstrip() for line in lines]


def _arrow(a: Arrow, label: str, width_: int, g: dict[str, str]) -> str:
    dash = g["line"]
    text = f" {label} "
    extra = width(text) - len(text)  # wide characters take two columns
    if a.lost:
        # Cut off two thirds of the way or just after the label, whichever is further.
        cut = max(width_ * 2 // 3, len(text) + extra + 7)
        tail = dash * (cut - len(text) - extra - 4)
        if a.src == 0:
            out = dash * 3 + text + tail + g["cross"]
            return out + " " * (width_ - width(out))
        out = g["cross"] + tail + text + dash * 3
        return " " * (width_ - width(out)) + out
    pad = width_ - len(text) - extra - 1
    before, after = pad // 2, pad - pad // 2
    if a.src == 0:
        return dash * before + text + dash * after + g["right"]
    return g["left"] + dash * after + text + dash * before
