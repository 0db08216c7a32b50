"""What a script's `tc qdisc` line means for minitcp's link.

Linux's scripts configure the TUN device's root qdisc: defaults.sh installs `pfifo` (no pacing),
and user_timeout/user-timeout-probe.pkt installs `pfifo limit 0`, a queue with no room, so that
every packet TCP sends is dropped locally (dev_queue_xmit returns NET_XMIT_DROP) and TCP must
react to a local congestion drop. minitcp has no qdisc: such a line sets the engine's
`xmit_drop` flag, which tcp/output.py's emit reads as that drop.
"""

from __future__ import annotations

import re
import shlex

_TO_DEV_NULL = re.compile(r"\s*(?:&>|[12]?>)\s*/dev/null(?:\s+2>&1)?")
_FIFOS = frozenset({"pfifo", "bfifo", "pfifo_head_drop"})


def root_drops_all(command: str) -> bool | None:
    """After `command` (`tc qdisc add|replace|change dev DEV root FIFO [limit N]` or `tc qdisc
    del|delete dev DEV root`, several joined by `;`), whether the root qdisc drops every packet:
    a fifo with `limit 0`. None when the line is not only such tc qdisc commands."""
    verdict: bool | None = None
    for part in command.split(";"):
        part = _TO_DEV_NULL.sub("", part).strip()
        if not part:
            continue
        try:
            words = shlex.split(part)
        except ValueError:
            return None
        if words[:2] != ["tc", "qdisc"] or len(words) < 3 or "root" not in words:
            return None
        op, rest = words[2], words[words.index("root") + 1:]
        if op in ("del", "delete"):
            verdict = False
        elif op in ("add", "replace", "change") and rest and rest[0] in _FIFOS:
            limit = rest[rest.index("limit") + 1] if "limit" in rest[:-1] else None
            verdict = limit is not None and limit.isdigit() and int(limit) == 0
        else:
            return None
    return verdict
