"""The page as one HTML text: static/index.html with style.css, app.js and the settings inlined.

The server sends it for `/`, and `--export FILE.html` writes it with the events embedded, so the
same file works live (the settings name `/events`) and offline (the settings hold the events).
Nothing is fetched from the network: no fonts, no libraries.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def static_text(name: str) -> str:
    return resources.files("minitcp.web").joinpath("static", name).read_text("utf-8")


def render_page(settings: dict[str, Any]) -> str:
    """The page with `settings` (mode "live" or "lab", lang, events, lab, questions) inlined.

    JSON inside <script> must not close the element: "</" is written "<\\/" (still valid JSON)."""
    data = json.dumps(settings, ensure_ascii=False).replace("</", "<\\/")
    html = static_text("index.html")
    html = html.replace("/*STYLE*/", static_text("style.css"))
    html = html.replace("/*SETTINGS*/", data)
    return html.replace("/*SCRIPT*/", static_text("app.js"))


def export_page(path: str, settings: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_page(settings))
