"""Fragment reassembly for one family, as Linux's inet_fragment.c does it for both.

A datagram's fragments share a key (IPv4: source, destination, identification and protocol,
RFC 791 section 3.2; IPv6: source, destination and identification, RFC 8200 section 4.5). Each
key has a queue that tracks what is still missing with RFC 815's hole list: a fragment that
lies inside one hole fills it (splitting it in two at most); one that lies wholly over data
already received is a duplicate, dropped alone; one that is partly over data and partly over
a hole overlaps, and the whole datagram is dropped (RFC 5722, for IPv4 too as Linux's
inet_frag_queue_insert does). A final fragment (no "more fragments") fixes the length; data
beyond it, or a second final fragment with another length, is corruption and drops the
queue (Linux ip_frag_queue / ip6_frag_queue). When the final fragment is in and no hole is
left, the datagram is handed back whole.

Limits (Linux's): the queues' memory is accounted as Linux's fqdir->mem, each queue its
struct's size and each fragment its packet plus sk_buff overhead; above `*frag_high_thresh`
every fragment is dropped, a new queue is never created (inet_frag_find), until queues
expire; so memory stays below the threshold plus one fragment under any flood. Since
Linux 4.17 `*frag_low_thresh` no longer evicts (it only bounds the high threshold); it is
kept as the knob. Each queue lives `*frag_time` seconds from its first fragment (the timer
inet_frag_create arms, never pushed back); when it expires with the first fragment in, the
host sends ICMP time exceeded, "fragment reassembly time exceeded" (ip_expire,
ip6frag_expire_frag_queue).

Counters (Linux's IP MIB, the IPv6 ones with the `Ip6` prefix): ReasmReqds (every fragment),
ReasmOKs, ReasmFails, ReasmTimeout, ReasmOverlaps. Sans-IO: `now` is given, `poll_at()` says
when `expire(now)` is due.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Hashable

QUEUE_SIZE = 256  # sizeof(struct ipq), about: charged to the memory on creation (inet_frag_alloc)
SKB_OVERHEAD = 512  # an sk_buff and its shared info beside the packet's bytes (SKB_TRUESIZE)


class _Queue:
    """The fragments of one datagram received so far (Linux struct inet_frag_queue)."""

    __slots__ = ("expires", "head", "holes", "last_in", "length", "pieces", "room", "truesize")

    def __init__(self, expires: float) -> None:
        self.expires = expires
        self.holes: list[tuple[int, float]] = [(0, math.inf)]  # RFC 815: [first, last) still missing
        self.pieces: dict[int, bytes] = {}  # offset -> data
        self.length = 0  # Linux q.len: the end of the furthest data, the datagram's once last_in
        self.last_in = False
        self.head: object | None = None  # what the first fragment brought (INET_FRAG_FIRST_IN)
        self.room = 0xFFFF  # the longest data the head's header allows (65535 less headers)
        self.truesize = QUEUE_SIZE


class Reassembly:
    """The fragment queues of one family. `prefix` names its counters ("" for IPv4, "Ip6");
    `limits()` returns (high_thresh, time) from the knobs, read at each use as sysctls are."""

    def __init__(self, counters: collections.Counter[str], prefix: str,
                 limits: Callable[[], tuple[int, float]]) -> None:
        self.counters = counters
        self.prefix = prefix
        self.limits = limits
        self.queues: dict[Hashable, _Queue] = {}  # by creation, so the first expires first
        self.mem = 0  # Linux fqdir->mem

    def _count(self, name: str) -> None:
        self.counters[self.prefix + name] += 1

    def add(self, key: Hashable, offset: int, data: bytes | memoryview, more: bool, head: object, room: int,
            now: float) -> tuple[object, bytes] | None:
        """One fragment: `data` at `offset` (bytes), `more` its "more fragments" flag, `head` what
        the host keeps of the first fragment (offset 0) to rebuild the datagram and quote it,
        `room` how long the data may grow under this fragment's headers. Returns (head, data)
        when this fragment completes the datagram, else None."""
        self._count("ReasmReqds")
        high_thresh, lifetime = self.limits()
        queue = self.queues.get(key)
        if queue is None:
            if not high_thresh or self.mem > high_thresh:
                self._count("ReasmFails")  # inet_frag_find refuses; ip_defrag: -ENOMEM
                return None
            queue = self.queues[key] = _Queue(now + lifetime)
            self.mem += QUEUE_SIZE
        elif self.mem > high_thresh:
            self._count("ReasmFails")
            return None
        end = offset + len(data)
        if not more:
            # The final fragment: nothing may lie beyond it, nor another final one disagree.
            if end < queue.length or (queue.last_in and end != queue.length):
                self._fail(key)
                return None
            queue.last_in = True
            queue.length = end
        else:
            end -= end % 8  # ip_frag_queue: a middle fragment's odd tail is trimmed
            data = data[: end - offset]
            if end > queue.length:
                if queue.last_in:
                    self._fail(key)  # data beyond the end
                    return None
                queue.length = end
        if end <= offset:
            self._fail(key)
            return None
        if not self._fill(queue, offset, end):
            if queue.holes and self._overlaps(queue, offset, end):
                self._count("ReasmOverlaps")
                self._fail(key)
                return None
            return None  # a duplicate: dropped, the queue kept (RFC 5722 errata 3089)
        if queue.last_in:
            queue.holes = [(first, min(last, queue.length)) for first, last in queue.holes
                           if first < queue.length]
        queue.pieces[offset] = bytes(data)
        size = len(data) + SKB_OVERHEAD
        queue.truesize += size
        self.mem += size
        if offset == 0:
            queue.head = head
            queue.room = room
        if queue.last_in and not queue.holes:
            return self._assemble(key, queue)
        return None

    @staticmethod
    def _fill(queue: _Queue, offset: int, end: int) -> bool:
        """RFC 815 steps 1-6: the fragment fills the one hole it lies in, which leaves at most
        two smaller holes; False when it lies in no hole."""
        for i, (first, last) in enumerate(queue.holes):
            if first <= offset and end <= last:
                new = [(h_first, h_last) for h_first, h_last in ((first, offset), (end, last))
                       if h_first < h_last]
                queue.holes[i : i + 1] = new
                return True
        return False

    @staticmethod
    def _overlaps(queue: _Queue, offset: int, end: int) -> bool:
        """Whether [offset, end) touches received data and a hole both (Linux IPFRAG_OVERLAP);
        over received data only it is a duplicate (IPFRAG_DUP)."""
        return any(first < end and offset < last for first, last in queue.holes)

    def _fail(self, key: Hashable) -> None:
        """Drop the whole datagram (inet_frag_kill): ReasmFails."""
        self._drop(key)
        self._count("ReasmFails")

    def _drop(self, key: Hashable) -> _Queue:
        queue = self.queues.pop(key)
        self.mem -= queue.truesize
        return queue

    def _assemble(self, key: Hashable, queue: _Queue) -> tuple[object, bytes] | None:
        self._drop(key)
        if queue.length > queue.room:
            self._count("ReasmFails")  # ip_frag_reasm / ip6_frag_reasm: oversized datagram
            return None
        self._count("ReasmOKs")
        data = b"".join(queue.pieces[offset] for offset in sorted(queue.pieces))
        return queue.head, data

    def poll_at(self) -> float | None:
        """When the oldest queue expires (queues expire in the order they were made, while
        `*frag_time` is unchanged)."""
        for queue in self.queues.values():
            return queue.expires
        return None

    def expire(self, now: float) -> list[object]:
        """Drop the queues whose time is up: ReasmFails and ReasmTimeout each. Returns the heads
        of those whose first fragment came, for the host's "reassembly time exceeded"."""
        heads = []
        while self.queues:
            key, queue = next(iter(self.queues.items()))
            if queue.expires > now:
                break
            self._drop(key)
            self._count("ReasmFails")
            self._count("ReasmTimeout")
            if queue.head is not None:
                heads.append(queue.head)
        return heads
