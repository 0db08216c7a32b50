"""A congestion window over time as an SVG line plot: one line per algorithm, on shared axes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 40  # margins for the axes' labels
COLORS = ("#1f5fa8", "#c06000", "#2a8a3a", "#8a2a8a")


def cwnd_plot_svg(series: dict[str, list[tuple[float, int]]], rtt_ms: float) -> str:
    """`series`: name -> [(seconds, cwnd in segments)]; the SVG text, a polyline per name."""
    t_max = max((t for s in series.values() for t, _ in s), default=1.0) or 1.0
    c_max = max((c for s in series.values() for _, c in s), default=1) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + t / t_max * plot_w

    def y(c: float) -> float:
        return TOP + plot_h - c / c_max * plot_h

    svg = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "width": str(WIDTH),
                             "height": str(HEIGHT), "font-family": "sans-serif", "font-size": "12"})
    ET.SubElement(svg, "rect", {"width": str(WIDTH), "height": str(HEIGHT), "fill": "white"})
    title = ET.SubElement(svg, "text", {"x": str(LEFT), "y": "18"})
    title.text = f"cwnd (segments) over time, one loss, RTT {rtt_ms:g} ms"
    axes = f"M{LEFT},{TOP} L{LEFT},{TOP + plot_h} L{LEFT + plot_w},{TOP + plot_h}"
    ET.SubElement(svg, "path", {"d": axes, "stroke": "black", "fill": "none"})
    for i in range(5):  # ticks: a fifth of each axis
        t, c = t_max * i / 4, c_max * i / 4
        tx = ET.SubElement(svg, "text", {"x": f"{x(t):.1f}", "y": str(HEIGHT - 22), "text-anchor": "middle"})
        tx.text = f"{t:.2g} s"
        ty = ET.SubElement(svg, "text", {"x": str(LEFT - 6), "y": f"{y(c) + 4:.1f}", "text-anchor": "end"})
        ty.text = f"{c:.0f}"
    for i, (name, points) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        ET.SubElement(svg, "polyline", {
            "class": f"cwnd {name}", "fill": "none", "stroke": color, "stroke-width": "1.5",
            "points": " ".join(f"{x(t):.1f},{y(c):.1f}" for t, c in points)})
        legend_y = TOP + plot_h - 40 + 16 * i  # bottom right, below the curves
        label = ET.SubElement(svg, "text", {"x": str(LEFT + plot_w - 80), "y": str(legend_y), "fill": color})
        label.text = name
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(svg, encoding="unicode") + "\n"
