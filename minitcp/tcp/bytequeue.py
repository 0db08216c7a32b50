"""A byte stream in pieces: the send buffer and the in-order receive queue.

A bytearray appended at the tail and trimmed at the head is the obvious
queue, but CPython copies the whole remainder whenever the trimmed prefix
makes it shrink or the tail outgrows its slack: with a 3 MB window of 64 KB
segments each segment cost 16.8 µs of such copies against 2 µs for the one
copy a read needs (docs/performance.md). So each write stays a piece of its own:

- an immutable `bytes` (a packet as `os.read` returns it, an application's
  write), or a view of one, is kept as it is: nothing can change it, so it is
  copied only where it leaves (into what `read` returns, into a packet);
- anything else (a view of a receive arena the link will reuse, a caller's
  bytearray) is copied into `bytes` first, as Linux copies a write into skbs;
- pieces shorter than `coalesce` are gathered into a bytearray at the tail, so
  that a flood of tiny writes or segments costs their bytes, not an object
  each (Linux collapses such queues for the same reason: tcp_collapse).

A bytearray piece is the queue's alone: no view of it outlives a call, so the
tail may grow in place and the head shrink.
"""

from __future__ import annotations

COALESCE = 1024  # default: pieces shorter than this are copied into the tail's bytearray
TAIL_MAX = 65536  # a gathering bytearray takes no more than this

Piece = bytes | bytearray | memoryview


class ByteQueue:
    """Bytes in order: `append` at the tail; `view` anywhere, `drop` and `read` at the head."""

    __slots__ = ("_coalesce", "_cur_index", "_cur_start", "_len", "_pieces")

    def __init__(self, coalesce: int = COALESCE) -> None:
        self._pieces: list[Piece] = []
        self._len = 0
        self._coalesce = coalesce
        # Where the last `view` began its search: the piece and the offset it starts at. A
        # sender asks for the bytes after the ones it sent last, so the search starts there.
        self._cur_index = 0
        self._cur_start = 0

    def __len__(self) -> int:
        return self._len

    def append(self, data: Piece) -> None:
        n = len(data)
        if not n:
            return
        pieces = self._pieces
        if n < self._coalesce:
            tail = pieces[-1] if pieces else None
            if type(tail) is bytearray and len(tail) + n <= TAIL_MAX:
                tail += data
            else:
                pieces.append(bytearray(data))
        elif type(data) is bytes or (type(data) is memoryview and type(data.obj) is bytes):
            pieces.append(data)
        else:
            pieces.append(bytes(data))
        self._len += n

    def append_owned(self, block: bytearray) -> None:
        """Queue a bytearray that nobody else holds (an out-of-order block now in order), uncopied."""
        if block:
            self._pieces.append(block)
            self._len += len(block)

    def view(self, off: int, n: int) -> bytes | memoryview:
        """The `n` bytes at `off` (all there): a view when they lie in one immutable piece,
        else a copy."""
        pieces = self._pieces
        i, start = self._cur_index, self._cur_start
        if off < start or i >= len(pieces):
            i = start = 0
        while start + len(pieces[i]) <= off:
            start += len(pieces[i])
            i += 1
        self._cur_index, self._cur_start = i, start
        piece = pieces[i]
        at = off - start
        if at + n <= len(piece) and type(piece) is not bytearray:
            if at == 0 and n == len(piece):
                # Not a bytearray (tested just above with `type() is`, cheaper than isinstance()
                # on this per-segment path, which a type checker does not narrow by).
                return piece  # type: ignore[return-value]
            return (piece if type(piece) is memoryview else memoryview(piece))[at : at + n]
        parts = []
        while n:
            piece = pieces[i]
            take = min(len(piece) - at, n)
            parts.append(memoryview(piece)[at : at + take])
            n -= take
            at = 0
            i += 1
        return b"".join(parts)

    def drop(self, n: int) -> None:
        """Forget the first `n` bytes (all there)."""
        pieces = self._pieces
        self._len -= n
        dropped = n
        whole = 0
        for piece in pieces:
            size = len(piece)
            if size > n:
                break
            n -= size
            whole += 1
        if n:
            head = pieces[whole]
            if type(head) is bytearray:
                del head[:n]
            else:
                pieces[whole] = (head if type(head) is memoryview else memoryview(head))[n:]
        del pieces[:whole]
        if self._cur_index > whole:
            self._cur_index -= whole
            self._cur_start -= dropped
        else:
            self._cur_index = self._cur_start = 0

    def read(self, n: int, peek: bool = False) -> bytes:
        """Up to `n` bytes from the head, removed unless `peek`."""
        n = min(n, self._len)
        if not n:
            return b""
        data = self.view(0, n)
        if not peek:
            self.drop(n)
        return data if type(data) is bytes else bytes(data)
