"""A TUN device's batches through io_uring: a chunk of reads or writes for one system call.

Under a SYN flood the link reads a batch of SYNs and writes a batch of cookie SYN-ACKs
(`minitcp.link.cookie_rx`); each read() and write() is a system call of its own, ~0.7 us of entry
and exit on this machine (mitigations) on top of the device's work. A `Ring` (native/minitcp_uring.c)
submits a chunk of IORING_OP_READ or IORING_OP_WRITE requests in one io_uring_enter: the same
packets, in the same order, the same drops (docs/reliability.md has the figures). When the kernel
refuses io_uring (kernel.io_uring_disabled, a seccomp filter, no CONFIG_IO_URING) `Ring` raises
and the link keeps its plain calls (`mt_read_batch`, `mt_write_batch`), which give the same results.
"""

from __future__ import annotations

import os
from typing import Any

from minitcp.wire.accel import NATIVE

try:
    from minitcp._native import ffi, lib
except ImportError:
    ffi = lib = None

# Submission slots: a whole batch of writes (TunLink.batch_limit, 256) in one chunk.
RING_ENTRIES = 256


class Ring:
    """An io_uring bound to the non-blocking `fd` (a TUN device), for its batches; `close` before
    the fd. Raises OSError when the kernel refuses a ring. Needs the C extension (`available`)."""

    available = lib is not None and NATIVE

    def __init__(self, fd: int, entries: int = RING_ENTRIES) -> None:
        err = ffi.new("int *")
        ptr = lib.mt_ring_open(fd, entries, err)
        if ptr == ffi.NULL:
            raise OSError(err[0], f"io_uring refused: {os.strerror(err[0])}")
        # Freed by `close`, or by the collector if its owner forgot: never a leaked ring fd.
        self._ptr: Any = ffi.gc(ptr, lib.mt_ring_close)
        self._fd = fd
        self._calls = 0  # those of a closed ring

    @property
    def calls(self) -> int:
        """io_uring_enter calls made so far."""
        return int(lib.mt_ring_calls(self._ptr)) if self._ptr is not None else self._calls

    def read_batch(self, buf: Any, cap: int, frame: int, limit: int, off: Any, length: Any) -> int:
        """`mt_read_batch`'s result through the ring (each packet in a `frame`-byte slot of its
        own: `cap` must hold `limit` frames); the plain call once closed."""
        if self._ptr is None:
            return int(lib.mt_read_batch(self._fd, buf, cap, frame, limit, off, length))
        return int(lib.mt_ring_read_batch(self._ptr, buf, cap, frame, limit, off, length))

    def write_batch(self, out: Any, olen: Any, row: Any, n: int) -> int:
        """`mt_write_batch`'s result (the SYN-ACKs the device refused) through the ring; the plain
        call once closed."""
        if self._ptr is None:
            return int(lib.mt_write_batch(self._fd, out, olen, row, n))
        return int(lib.mt_ring_write_batch(self._ptr, out, olen, row, n))

    def close(self) -> None:
        if self._ptr is not None:
            self._calls = self.calls
            ffi.release(self._ptr)  # mt_ring_close now, not at collection
            self._ptr = None
