"""The in-order receive queue: payloads kept as they arrived, copied once, when the application reads.

A bytearray appended at the tail and trimmed at the head is the obvious queue,
but CPython copies the whole remainder whenever the trimmed prefix makes it
shrink or the tail outgrows its slack: with a 3 MB window of 64 KB segments
each segment cost 16.8 µs of such copies against 2 µs for the one copy a read
needs (docs/performance.md). So each payload stays a piece of its own:

- a view of an immutable packet (`bytes`, as `os.read` returns them) as it is:
  nothing can change it, and it is copied only into what `read` returns;
- a payload in a buffer that will be reused (a view of a receive arena, a
  caller's bytearray) copied into `bytes` first;
- small payloads gathered into a bytearray at the tail, so that a flood of
  tiny segments costs their bytes, not an object each (Linux collapses such
  queues for the same reason: tcp_collapse).
"""

from __future__ import annotations

COALESCE = 1024  # payloads shorter than this are copied into the tail's bytearray
TAIL_MAX = 65536  # a gathering bytearray takes no more than this


class ByteQueue:
    """Bytes in order: `append` at the tail, `read` from the head. A bytearray piece is ours alone
    (no view of it outlives a call), so the tail may grow in place and the head shrink."""

    __slots__ = ("_len", "_pieces")

    def __init__(self) -> None:
        self._pieces: list[bytes | bytearray | memoryview] = []
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def append(self, payload: bytes | bytearray | memoryview) -> None:
        n = len(payload)
        if not n:
            return
        pieces = self._pieces
        if n < COALESCE:
            tail = pieces[-1] if pieces else None
            if type(tail) is bytearray and len(tail) + n <= TAIL_MAX:
                tail += payload
            else:
                pieces.append(bytearray(payload))
        elif type(payload) is bytes or (type(payload) is memoryview and type(payload.obj) is bytes):
            pieces.append(payload)
        else:
            pieces.append(bytes(payload))
        self._len += n

    def append_owned(self, block: bytearray) -> None:
        """Queue a bytearray that nobody else holds (an out-of-order block now in order), uncopied."""
        if block:
            self._pieces.append(block)
            self._len += len(block)

    def read(self, n: int, peek: bool = False) -> bytes:
        """Up to `n` bytes from the head, removed unless `peek`."""
        pieces = self._pieces
        out: list[bytes | bytearray | memoryview] = []
        need = n
        whole = 0  # pieces taken entirely
        for piece in pieces:
            size = len(piece)
            if size <= need:
                out.append(piece)
                need -= size
                whole += 1
                if not need:
                    break
                continue
            if type(piece) is bytearray:
                # A copy, not a view: a view would forbid the in-place trim below.
                out.append(bytes(memoryview(piece)[:need]))
                if not peek:
                    del piece[:need]
            else:
                view = piece if type(piece) is memoryview else memoryview(piece)
                out.append(view[:need])
                if not peek:
                    pieces[whole] = view[need:]
            need = 0
            break
        data = bytes(out[0]) if len(out) == 1 else b"".join(out)
        if not peek:
            del pieces[:whole]
            self._len -= len(data)
        return data
