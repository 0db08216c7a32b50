"""Packet hooks together: `Stack` takes one `on_packet`, a learner may want several."""

from __future__ import annotations

from minitcp.host.host import PacketHook


def tee(*hooks: PacketHook | None) -> PacketHook | None:
    """One hook calling each given hook in turn (None ones skipped); None if none is left.

    e.g. `Stack(link, on_packet=tee(printer() if verbose else None, PcapWriter(path)))`.
    """
    live = [h for h in hooks if h is not None]
    if not live:
        return None
    if len(live) == 1:
        return live[0]

    def on_packet(direction: str, packet: bytes | memoryview, now: float) -> None:
        for hook in live:
            hook(direction, packet, now)

    return on_packet
