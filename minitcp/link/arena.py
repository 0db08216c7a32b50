"""Receive memory for large packets: read into a reused buffer, handed out as views, never overwritten.

A read into a fresh 64 KiB bytes object per packet costs an allocation that
glibc gives back to the system and faults in again soon after; reading into
a reused bytearray avoids that (about twice the packets per CPU-second for
64 KB packets, measured on a TUN device), but a consumer may keep a packet
(a payload view in a receive queue, a fault injector's delayed copy), so a
region must not be reused while any view of it lives. Hence two arenas: each
batch's packets sit one after another in the current one; when it is full the
other takes over, but only if no view of it is left (a bytearray refuses to
resize while views of it exist), else a fresh one does and the pinned arena
is left to whoever holds its views. A held view keeps its whole arena alive:
whoever holds packets long should copy them.
"""

from __future__ import annotations

ARENA_SIZE = 1 << 20


def _unused(buf: bytearray) -> bool:
    """Whether no memoryview of `buf` is alive: only then can it grow."""
    try:
        buf.append(0)
    except BufferError:
        return False
    buf.pop()
    return True


class RecvArena:
    """Bump allocation of frames of at most `frame` bytes in `size`-byte arenas.

    A batch reads with `begin`, reads frames at `offset` while `offset <= last`
    (calling `next_arena` when none fits and the batch is still empty, or ending
    the batch early, so one batch never spans two arenas), then calls `end`.
    """

    __slots__ = ("_current", "_offset", "_size", "_spare", "last")

    def __init__(self, frame: int, size: int = ARENA_SIZE) -> None:
        if frame > size:
            raise ValueError(f"a {frame}-byte frame does not fit a {size}-byte arena")
        self._size = size
        self._current = bytearray(size)
        self._spare = bytearray(size)
        self._offset = 0
        self.last = size - frame  # the highest offset where a whole frame still fits

    def begin(self) -> tuple[memoryview, int]:
        """A view of the current arena and where the batch starts in it: at 0 when nothing
        read before is still in use."""
        if self._offset and _unused(self._current):
            self._offset = 0
        return memoryview(self._current), self._offset

    def next_arena(self) -> memoryview:
        """Move to the other arena (or a fresh one if views of it are alive); a batch starts at 0."""
        spare = self._spare if _unused(self._spare) else bytearray(self._size)
        self._spare, self._current, self._offset = self._current, spare, 0
        return memoryview(spare)

    def end(self, offset: int) -> None:
        self._offset = offset
