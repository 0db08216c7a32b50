"""Classic libpcap files, for Wireshark and `tcpdump -r`.

The format (https://www.tcpdump.org/manpages/pcap-savefile.5.html): a 24-byte
global header, then per packet a 16-byte record header (seconds,
microseconds, captured length, original length) and the bytes. The stack's
packets are bare IPv4 with no link-layer header, hence LINKTYPE_RAW (101),
which every reader knows (LINKTYPE_IPV4, 228, works too). Byte order is
little-endian; readers tell it from the magic number.

`PcapWriter` is a packet hook (`writer(direction, packet, now)`, as
`Stack(on_packet=...)` calls it) and can also write recorded segments,
rebuilt byte for byte with `build_tcp_packet`.

A capture holds every byte of every connection, so a file it writes by path
is created new and private (`create_private`): mode 0600, and never through a
symbolic link or over an existing file, where a link planted in /tmp by
another user would otherwise aim our write at a file of their choosing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from minitcp.wire.segment import Segment
from minitcp.wire.tcp import build_tcp_packet

from .events import Event, SegmentEvent
from .recorder import Recorder

PCAP_MAGIC = 0xA1B2C3D4  # microsecond timestamps (0xA1B23C4D would mean nanoseconds)
LINKTYPE_RAW = 101
LINKTYPE_IPV4 = 228
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
# O_EXCL: fail if the name exists, a symbolic link included (open(2) never follows one then);
# O_NOFOLLOW says the same of the last component on its own, in case O_EXCL were ever dropped.
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
PRIVATE_MODE = 0o600  # our user's only (a umask can take more away, never give more)


class PcapWriter:
    """Writes packets to a pcap file (a path, opened and owned, or a binary file object).

    As a hook the time it is given is used (virtual or Trio time); with
    `wall_clock=True` the time of day is read instead, as tcpdump would stamp a
    live capture. `offset` is added to every given time.
    """

    def __init__(self, file: str | Path | BinaryIO, *, linktype: int = LINKTYPE_RAW, snaplen: int = 65535,
                 wall_clock: bool = False, offset: float = 0.0, flush: bool = False) -> None:
        self.path: str | None = None  # the file's path when the writer created it
        if isinstance(file, (str, Path)):
            self._file: BinaryIO = create_private(file)
            self._owned = True
            self.path = str(file)
        else:
            self._file, self._owned = file, False
        self.snaplen = snaplen
        self.wall_clock = wall_clock
        self.offset = offset
        self.flush = flush  # after every packet, so a live reader (tail -f | wireshark) keeps up
        self.count = 0
        self._file.write(_GLOBAL.pack(PCAP_MAGIC, 2, 4, 0, 0, snaplen, linktype))

    def __call__(self, direction: str, packet: bytes | memoryview, now: float) -> None:
        """The `on_packet` hook: write the packet, whichever way it went."""
        self.write(packet, time.time() if self.wall_clock else now + self.offset)

    def write(self, packet: bytes | memoryview, ts: float) -> None:
        ts = max(ts, 0.0)
        sec = int(ts)
        usec = round((ts - sec) * 1_000_000)
        if usec >= 1_000_000:  # rounding carried into the next second
            sec, usec = sec + 1, usec - 1_000_000
        data = bytes(packet[: self.snaplen])
        self._file.write(_RECORD.pack(sec, usec, len(data), len(packet)))
        self._file.write(data)
        self.count += 1
        if self.flush:
            self._file.flush()

    def write_segment(self, seg: Segment, ts: float) -> None:
        self.write(build_tcp_packet(seg), ts + self.offset)

    def write_events(self, events: Iterable[Event]) -> int:
        """Write every segment event given (in order); returns how many."""
        n = 0
        for e in events:
            if isinstance(e, SegmentEvent):
                self.write_segment(e.segment, e.time)
                n += 1
        return n

    def discard(self) -> None:
        """Close, and remove the file if this writer created it: a capture given up before it began
        (its header alone), which would otherwise refuse the next try at the same name."""
        self.close()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def close(self) -> None:
        if self._owned:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_private(path: str | Path) -> BinaryIO:
    """A new file at `path`, mode 0600, open for binary writing.

    FileExistsError, worded for the one line a user sees, if anything is at `path` already: a
    file (not silently overwritten) or a symbolic link (not followed, wherever it points).
    """
    try:
        fd = os.open(path, _NEW_FILE, PRIVATE_MODE)
    except FileExistsError:
        if os.path.islink(path):
            why = "it is a symbolic link, and a capture never follows one"
        else:
            why = "it exists, and a capture never overwrites a file"
        raise FileExistsError(errno.EEXIST, f"{why} (remove it or choose another name)", str(path)) from None
    return os.fdopen(fd, "wb")


def capture_events(source: Recorder | Iterable[Event], host: str | None = None, *, wire: bool = False
                   ) -> list[SegmentEvent]:
    """The segments a capture would hold.

    By default what tcpdump on one host would see (its segments in and out;
    `host` defaults to the first host in the trace). With `wire=True`, every
    segment any host sent, as a capture on the wire would see it before any
    loss.
    """
    events = source.events if isinstance(source, Recorder) else list(source)
    segs = [e for e in events if isinstance(e, SegmentEvent)]
    if wire:
        return [e for e in segs if e.direction == "out"]
    if host is None:
        host = segs[0].host if segs else None
    return [e for e in segs if e.host == host]


def write_pcap(path: str | Path | BinaryIO, source: Recorder | Iterable[Event], host: str | None = None, *,
               wire: bool = False, linktype: int = LINKTYPE_RAW, offset: float = 0.0) -> int:
    """Write a recorded trace as a pcap file; returns the number of packets."""
    with PcapWriter(path, linktype=linktype, offset=offset) as writer:
        return writer.write_events(capture_events(source, host, wire=wire))


def read_pcap(source: str | Path | bytes) -> tuple[int, list[tuple[float, bytes]]]:
    """(linktype, [(timestamp, packet)]) from a classic pcap file, either byte order."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if len(data) < 24:
        raise ValueError("not a pcap file: shorter than its header")
    for order in ("<", ">"):
        magic, _major, _minor, _zone, _sig, _snap, linktype = struct.unpack_from(order + "IHHiIII", data)
        if magic in (PCAP_MAGIC, 0xA1B23C4D):
            break
    else:
        raise ValueError(f"not a pcap file: magic {data[:4].hex()}")
    scale = 1e-6 if magic == PCAP_MAGIC else 1e-9
    packets = []
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from(order + "IIII", data, pos)
        pos += 16
        packets.append((sec + frac * scale, data[pos : pos + incl]))
        pos += incl
    return linktype, packets
