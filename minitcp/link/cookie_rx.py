"""A TUN device's read batch with its SYN flood answered in C: the link's half.

While the host's `CookieBatch` (minitcp/host/cookie_batch.py) has a table (a listener in cookie
mode, nothing watching the packets), `CookieReader.read` takes the place of the usual read: one
C call reads the device until it is empty or the batch is full (`mt_read_batch`), one answers
every SYN a listener in cookie mode takes (`mt_cookie_scan`), the host refuses those of flows
it has (`CookieBatch.refused`), one writes the SYN-ACKs (`mt_write_batch`), and the host counts
them (`CookieBatch.answered`). What is left goes to the host as the usual read's batch, in the
order read (copies: the reader's memory is reused at once), and the SYN-ACKs then wait for the
host to have taken it (`flush`), unless a flow has packets of both kinds. Python's work per SYN
is a key made and looked up, and its share of the batch's three calls (docs/reliability.md has
the figures). With a `Ring` (minitcp/link/uring.py) the reads and the writes go through io_uring,
a chunk of them per system call, with the same results.
"""

from __future__ import annotations

import os
from typing import Any

from minitcp.host.cookie_batch import KEY_LEN, SYNACK_SLOT, CookieBatch, flow_key
from minitcp.link.base import Received
from minitcp.link.uring import Ring
from minitcp.tcp.request_synack import REQ_FIELDS
from minitcp.wire.accel import NATIVE

try:
    from minitcp._native import ffi, lib
except ImportError:
    ffi = lib = None

PACKET_ROOM = 2048  # bytes per packet of the batch's buffer, besides one whole frame
_UNCLEARED: Any = ffi.new_allocator(should_clear_after_alloc=False) if ffi is not None else None


class CookieReader:
    """Reads batches of up to `limit` packets of at most `frame` bytes from the non-blocking
    `fd`, answering their cookie SYNs (`read`), through `ring` when given (the fd's). Needs the C
    extension (`available`)."""

    available = lib is not None and NATIVE

    def __init__(self, fd: int, limit: int, frame: int, ring: Ring | None = None) -> None:
        self._fd = fd
        self._limit = limit
        self._frame = frame
        self._ring = ring
        if ring is None:
            self._cap = frame + limit * PACKET_ROOM
            self._buf = ffi.new("char[]", self._cap)
        else:
            # A ring's reads each take a whole frame's slot (issued before any length is known):
            # limit frames, 16 MB of address space of which the kernel backs the pages touched
            # (~a page per packet), hence not cleared.
            self._cap = frame * limit
            self._buf = _UNCLEARED("char[]", self._cap)
        self._bytes = ffi.buffer(self._buf)
        self._off = ffi.new("uint32_t[]", limit)
        self._len = ffi.new("uint32_t[]", limit)
        self._row = ffi.new("uint8_t[]", limit)
        self._out = ffi.new("char[]", limit * SYNACK_SLOT)
        self._olen = ffi.new("uint32_t[]", limit)
        self._keys = ffi.new("uint8_t[]", limit * KEY_LEN)
        self._key_bytes = ffi.buffer(self._keys)
        self._req = ffi.new("uint32_t[]", limit * REQ_FIELDS)  # the requests' fields (request_synack.py)
        self._req_fields = memoryview(ffi.buffer(self._req)).cast("I")
        self.answered = 0  # SYNs the last read answered
        self._pending = 0  # packets of the last read whose SYN-ACKs wait for `flush`

    def read(self, batch: CookieBatch, table: Any, now: float) -> tuple[list[Received], int]:
        """The packets waiting now that are the host's, maybe none, and how many SYN-ACKs the
        device refused (a full queue: dropped and counted, as `TunLink.send` does). When the
        host has packets here and none may share an answered SYN's flow, the SYN-ACKs wait for
        `flush` (which this calls first): the host's packets (a user's SYN, ACK or data) are not
        held behind a batch of writes (up to 256, ~1 ms), and each flow keeps its order."""
        dropped = self.flush()
        self.answered = 0
        args = (self._buf, self._cap, self._frame, self._limit, self._off, self._len)
        n = lib.mt_read_batch(self._fd, *args) if self._ring is None else self._ring.read_batch(*args)
        if n < 0:
            raise OSError(-n, os.strerror(-n))
        if n == 0:
            return [], dropped
        row = self._row
        off, length, data = self._off, self._len, self._bytes
        if not lib.mt_cookie_scan(self._buf, off, length, n, table, row, self._out, self._olen, self._keys,
                                  self._req):
            return [(data[off[i]:off[i] + length[i]], False) for i in range(n)], dropped
        rows = ffi.buffer(row, n)[:]
        kb, from_bytes = self._key_bytes, int.from_bytes
        answered = [i for i in range(n) if rows[i]]
        keys = [from_bytes(kb[i * KEY_LEN:(i + 1) * KEY_LEN], "big") for i in answered]
        refused = batch.refused(keys)
        if refused:
            for i, key in zip(answered, keys, strict=True):
                if key in refused:
                    row[i] = 0
            rows = ffi.buffer(row, n)[:]
        batch.answered(rows, now, answered, keys, self._req_fields)
        self.answered = n - rows.count(0)
        if self.answered == n:
            return [], dropped + self._write(n)
        rest = [(data[off[i]:off[i] + length[i]], False) for i in range(n) if not row[i]]
        if self.answered:
            mine = set(keys).difference(refused)
            if any((flow := flow_key(pkt)) is None or flow in mine for pkt, _ in rest):
                dropped += self._write(n)  # a flow of both: its SYN-ACK first, as read
            else:
                self._pending = n
        return rest, dropped

    def flush(self) -> int:
        """Write the SYN-ACKs the last read left for after the host's packets; how many the
        device refused."""
        n, self._pending = self._pending, 0
        return self._write(n) if n else 0

    def _write(self, n: int) -> int:
        if self._ring is None:
            return int(lib.mt_write_batch(self._fd, self._out, self._olen, self._row, n))
        return self._ring.write_batch(self._out, self._olen, self._row, n)
