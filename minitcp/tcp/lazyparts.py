"""Parts of a connection made on first use, so that a half-open one stays small.

Linux keeps a SYN_RECEIVED request in a small `request_sock` (inet_reqsk_alloc) and builds
the full socket, with its retransmission queue, congestion state and pacing, only when the
third ACK comes (tcp_check_req -> syn_recv_sock). minitcp keeps one `Connection` from the SYN
on, and makes the parts a half-open connection never touches (the scoreboard, RACK, undo and
PRR state of `Recovery`, the pacing rate) the first time anything reads them: a class lists
them in `LAZY_PARTS` (slot name -> maker), and a read of a slot not yet filled lands in
`LazyParts.__getattr__` once, which makes the part and fills the slot; every read after is
a plain slot read. A half-open connection then allocates a handful of objects instead of a
dozen (tests/tcp/test_half_open_cost.py holds it to that).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar


class LazyParts:
    __slots__ = ()
    LAZY_PARTS: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    if not TYPE_CHECKING:  # (mypy keeps checking attribute names: no catch-all for it)
        def __getattr__(self, name: str) -> Any:
            make = type(self).LAZY_PARTS.get(name)
            if make is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            part = make(self)
            setattr(self, name, part)
            return part


def made(obj: LazyParts, name: str) -> bool:
    """Whether `obj`'s lazy part `name` exists already (looking does not make it)."""
    slot = getattr(type(obj), name)
    try:
        slot.__get__(obj, type(obj))
    except AttributeError:
        return False
    return True
