"""docs/tcp-states.svg is drawn from the state machine's table and must not fall behind it."""

from __future__ import annotations

import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

import minitcp
from minitcp.tcp.states import TRANSITIONS, Event, State

SCRIPT = Path(minitcp.__file__).resolve().parent.parent / "docs" / "make_state_diagram.py"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    """docs/make_state_diagram.py, loaded as a module (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_state_diagram", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_checked_in_diagram_is_current(script: ModuleType) -> None:
    checked_in = script.SVG_PATH.read_text(encoding="utf-8")
    assert checked_in == script.render(), \
        "docs/tcp-states.svg is stale: run `python docs/make_state_diagram.py` to regenerate it"


def test_every_edge_is_drawn_or_listed(script: ModuleType) -> None:
    svg = ET.fromstring(script.render())
    texts = [(el.get("class"), el.text or "") for el in svg.iter(f"{SVG_NS}text")]
    edges = svg.findall(f"{SVG_NS}polyline")
    assert len(edges) == len(script.ROUTES)
    drawn = [text for cls, text in texts if cls == "event"]
    assert sorted(drawn) == sorted(event.value for _, event in script.ROUTES)
    listed = " · ".join(text for cls, text in texts if cls == "ending")
    for (state, event), target in TRANSITIONS.items():
        if (state, event) not in script.ROUTES:
            assert target == State.CLOSED
            assert event.value in listed


def test_an_edge_without_a_route_is_refused(script: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(TRANSITIONS)
    table[State.ESTABLISHED, Event.ABORT] = State.TIME_WAIT  # not to CLOSED: it needs a route
    monkeypatch.setattr(script, "TRANSITIONS", table)
    with pytest.raises(ValueError, match="ESTABLISHED on ABORT -> TIME_WAIT has no route"):
        script.render()


def test_a_route_must_join_the_boxes_of_its_states(script: ModuleType,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(TRANSITIONS)
    table[State.ESTABLISHED, Event.RCV_FIN] = State.LAST_ACK  # the route ends on CLOSE-WAIT's box
    monkeypatch.setattr(script, "TRANSITIONS", table)
    with pytest.raises(ValueError, match="not on a LAST_ACK box"):
        script.render()
