"""A SYN flood's read batches answered in C: the host's half (sans-IO).

While a listener is in cookie mode (its SYN queue full, or tcp_syncookies=2) Linux answers each
SYN in softirq, from the packet alone (tcp_conn_request with want_cookie), never waking a task;
before that, while its SYN queue has room, it answers each with a request sock (tcp_conn_request,
inet_reqsk_alloc), in softirq too. Here the link reads a whole batch from its device, and one C
call (`mt_cookie_scan`, native/minitcp_native.c) answers every SYN of it such a listener takes:
a valid SYN without ACK, RST or FIN, from a source no martian and not us, to our address and
the port of a row of the table this module hands the link: while the row's SYN queue has room,
with a request's SYN-ACK (`mt_request_synack`, request_synack.py), the request then made in
Python from the fields C parsed (`RequestSock.from_fields`); then, when the listener is in
cookie mode, with a cookie. The link writes those SYN-ACKs and gives every
other packet of the batch to the host, in the order read; a SYN whose flow had a packet among
those is the host's too (after it), as is one for an existing connection or TIME_WAIT entry
(`settle`). The link's half, reading and writing the device, is minitcp/link/cookie_rx.py.

`CookieBatch.table(now)` is the table: our addresses, the cookie, ISN and timestamp clocks of
`now` and a row per (family, port) whose listener is in cookie mode or filling its SYN queue
under a burst, with what its SYN-ACKs carry (`Listener.synack_params`), the room in its SYN
queue (`Listener.syn_room`) and whether it then sends cookies; None when the batch path must
stay off: no such listener (none sent a cookie lately, none holds SYN_BURST requests), an
observer or packet hook watching every packet (traces stay complete), or no C extension (or
MINITCP_PURE set). `answered` makes the requests and counts what the host, the engine and the
listener count for each SYN-ACK on the usual path. `scan_pure` is the C scan's pure-Python
twin (the same results, tested against each other); `scan_native` runs the C one on a list.

Packets the host would take another way are never answered here: a listener's state can change
within a batch (a returning cookie's ACK may leave room in its queues), so a SYN read after
such a packet may get the cookie the next batch would not have sent, as on a Linux host whose
CPUs take a NIC's queues in parallel. Each flow's packets keep their order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from minitcp.host.ipv4 import is_martian_source
from minitcp.host.ipv6 import is_martian_source6
from minitcp.tcp.connection import conn_key
from minitcp.tcp.cookie_synack import CookieParams, cookie_synack_pure
from minitcp.tcp.family import ANY6, IPV4_MAX
from minitcp.tcp.request_synack import REQ_FIELDS, Fields, request_synack_pure
from minitcp.tcp.seq import MASK
from minitcp.tcp.syncookies import TCP_SYNCOOKIE_PERIOD
from minitcp.wire.accel import NATIVE
from minitcp.wire.segment import ACK, FIN, RST, SYN

if TYPE_CHECKING:
    from minitcp.host.host import Host
    from minitcp.tcp.engine import TcpEngine
    from minitcp.tcp.listener import Listener

try:
    from minitcp._native import ffi, lib
except ImportError:
    ffi = lib = None

ROWS = 16  # MT_COOKIE_ROWS: listening ports in cookie mode a table holds (the rest: the usual path)
SYNACK_SLOT = 128  # MT_SYNACK_SLOT
KEY_LEN = 36  # MT_KEY_LEN: a conn_key's bytes (IPv6's 288 bits)
FLOW_BITS = 8192  # the C scan's Bloom filter of the flows handed to the host
# The table is looked for only this long after a listener last sent a cookie (engine.last_cookie):
# the first SYN of a flood is answered by the usual path, which turns the batch path on.
RECENT = 1.0
# A listener whose SYN queue holds this many entries is taking a burst of SYNs: its next SYNs are
# answered in batches (requests while the queue has room). Linux has no such gate (softirq takes
# every SYN); it keeps the batch path's read off a quiet host's way. The first SYN_BURST SYNs of
# a flood take the usual path (docs/reliability.md: "The SYN queue's fill in batches").
SYN_BURST = 16

Row: TypeAlias = tuple[int, bool, CookieParams]
"""A row of the table: the port, whether IPv6, what the listener's SYN-ACKs carry."""
State: TypeAlias = tuple[int, bool]
"""A row's state for one batch: the room in its SYN queue, whether it then sends cookies."""
Answer: TypeAlias = tuple[int, bytes, int, Fields | None] | None
"""What the scan made of one packet: (row, SYN-ACK, conn_key, the request's fields or None for a
cookie), or None: the host's."""


def cookies_lately(engine: TcpEngine, now: float) -> bool:
    """Whether a listener of `engine` sent a cookie in the last RECENT seconds: the gate of the
    batch path (`CookieBatch.rows`) and of the host's per-SYN cookie path alike."""
    return now <= engine.last_cookie + RECENT


class CookieBatch:
    """The table a link answers a batch's SYNs with, and the counts of what it answered."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._native: Any = None
        self._loaded: list[Row] = []  # what the C table holds
        self._listeners: list[Listener] = []  # each row's listener
        if lib is not None and NATIVE:  # MINITCP_PURE: every SYN the usual way
            self._native = new_table(host.addr, host.addr6)

    def rows(self, now: float) -> list[tuple[int, bool, Listener, State]]:
        """The listeners that a SYN to one of our addresses finds (a listener on the address
        first, else the wildcard one, as TcpEngine.receive looks them up) that answer SYNs in
        batches now, with their port, family and state: in cookie mode (having sent a cookie
        lately), or holding SYN_BURST entries in a SYN queue with room; none while anything
        watches every packet. Requests are made only where the usual path would make them the
        same: no local device dropping every packet (`xmit_drop`), no ISN pinned (a lab's)."""
        host = self.host
        eng = host.engine
        if host.on_packet is not None or eng.observer is not None:
            return []
        lately = cookies_lately(eng, now)
        # (No listener holds SYN_BURST requests while the engine holds fewer: a quiet host's read
        # looks no further.)
        requests = len(eng.requests) >= SYN_BURST and not eng.xmit_drop and not eng.isn.pinned()
        if not lately and not requests:
            return []
        listeners = eng.listeners
        rows = []
        for (laddr, lport), listener in listeners.items():
            if laddr == 0:
                v6, mine = False, (host.addr, lport) not in listeners
            elif laddr == ANY6:
                v6, mine = True, host.addr6 is not None and (host.addr6, lport) not in listeners
            else:
                v6 = laddr > IPV4_MAX
                mine = laddr == (host.addr6 if v6 else host.addr)
            if not mine:
                continue
            room = listener.syn_room() if requests and len(listener.syn_queue) >= SYN_BURST else 0
            # In cookie mode, or filling a queue that sends cookies once full: a queue the batch
            # fills answers the batch's next SYNs with cookies, as Linux's tcp_conn_request
            # would each (the flood's log line with the first, cookies_sent), on a first fill or
            # a refill after a flood's pruning alike.
            cookie = listener.cookie_mode() or (bool(room) and bool(eng.knobs.tcp_syncookies))
            if room or cookie:
                rows.append((lport, v6, listener, (room, cookie)))
        return rows[:ROWS]

    def table(self, now: float) -> Any:
        """The C table (`struct mt_cookie_table *`) for a batch read at `now`, or None."""
        t = self._native
        if t is None:
            return None
        rows = self.rows(now)
        if not rows:
            return None
        host = self.host
        loaded = [(port, v6, listener.synack_params(v6, host.addr6 if v6 else host.addr))  # type: ignore[arg-type]
                  for port, v6, listener, _ in rows]
        if loaded != self._loaded:  # the same objects as a rule: compared by identity first
            load_rows(t, loaded)
            self._loaded = loaded
        self._listeners = [listener for _, _, listener, _ in rows]
        set_clocks(t, now)
        set_states(t, [state for _, _, _, state in rows])
        return t

    def refused(self, keys: list[int]) -> set[int]:
        """The keys of `keys` that are a connection's, a request's or a TIME_WAIT entry's: their
        SYNs are the host's (a challenge ACK, a retransmitted SYN-ACK, TIME_WAIT's rules), not a
        cookie's."""
        engine = self.host.engine
        conns, requests, timewait = engine.conns, engine.requests, engine.timewait
        if conns.keys().isdisjoint(keys) and requests.keys().isdisjoint(keys) \
                and timewait.keys().isdisjoint(keys):
            return set()
        return {key for key in keys if key in conns or key in requests or key in timewait}

    def answered(self, rows: bytes, now: float, at: list[int], keys: list[int], req: Any) -> None:
        """Make the requests of a batch and count its SYN-ACKs as the usual path counts each
        (Host._cookie_reply4/6, Listener.cookies_sent, Listener.requests_made): packet i got a
        cookie of row rows[i] - 1, or a request of row rows[i] - 1 - ROWS (0: none); `at` are
        the packets answered, `keys` their conn_keys, `req` the C scan's fields of requests
        (REQ_FIELDS a packet)."""
        host = self.host
        counters = host.counters
        for r, (_, v6, params) in enumerate(self._loaded):
            cookies = rows.count(r + 1)
            made = rows.count(r + 1 + ROWS)
            if not cookies + made:
                continue
            prefix = "Ip6" if v6 else ""
            counters[prefix + "InReceives"] += cookies + made
            counters[prefix + "InDelivers"] += cookies + made
            counters[prefix + "OutRequests"] += cookies + made
            if cookies:
                self._listeners[r].cookies_sent(cookies, now)
            if made:
                mark, amask = r + 1 + ROWS, (1 << 128) - 1 if v6 else 0xFFFFFFFF
                requests = [(key, key >> 16 & amask, key & 0xFFFF, req[i * REQ_FIELDS:(i + 1) * REQ_FIELDS])
                            for i, key in zip(at, keys, strict=True) if rows[i] == mark]
                self._listeners[r].requests_made(requests, host.addr6 if v6 else host.addr,  # type: ignore[arg-type]
                                                 params, now)


def new_table(addr: int, addr6: int | None) -> Any:
    """A C table (`struct mt_cookie_table *`) for a host with these addresses, without rows."""
    t = ffi.new("struct mt_cookie_table *")
    t.addr4[0:4] = addr.to_bytes(4, "big")
    if addr6 is not None:
        t.addr6[0:16] = addr6.to_bytes(16, "big")
        t.has6 = 1
    return t


def load_rows(t: Any, rows: list[Row]) -> None:
    """Put `rows` (at most ROWS) in the C table `t`."""
    for r, (port, v6, params) in enumerate(rows):
        t.port[r] = port
        t.v6[r] = v6
        t.params[r] = params.native[0]  # type: ignore[index]
    t.nrows = len(rows)


def set_clocks(t: Any, now: float) -> None:
    """The cookie, ISN and timestamp clocks of `now` in the C table `t`, as cookie_synack_native's
    and IsnGenerator.isn's."""
    t.count = int(now // TCP_SYNCOOKIE_PERIOD) & MASK
    t.ts_now = int(now * 1000) & MASK
    t.isn_clock = (int(now * 1e9) >> 6) & MASK


def set_states(t: Any, states: list[State]) -> None:
    """Each row's room and whether it then sends cookies, in the C table `t`."""
    for r, (room, cookie) in enumerate(states):
        t.room[r] = room
        t.cookie[r] = cookie


def scan_native(packets: list[bytes], table: Any) -> list[Answer]:
    """`mt_cookie_scan` on `packets` with the C table `table`: what it made of each."""
    n = len(packets)
    buf = b"".join(packets)
    offs, at = [], 0
    for p in packets:
        offs.append(at)
        at += len(p)
    row, olen = ffi.new("uint8_t[]", max(n, 1)), ffi.new("uint32_t[]", max(n, 1))
    out, keys = ffi.new("char[]", max(n, 1) * SYNACK_SLOT), ffi.new("uint8_t[]", max(n, 1) * KEY_LEN)
    req = ffi.new("uint32_t[]", max(n, 1) * REQ_FIELDS)
    lens = [len(p) for p in packets] or [0]
    lib.mt_cookie_scan(buf, offs or [0], lens, n, table, row, out, olen, keys, req)
    kb = ffi.buffer(keys)
    return [((row[i] - 1) % ROWS, ffi.buffer(out + i * SYNACK_SLOT, olen[i])[:],
             int.from_bytes(kb[i * KEY_LEN:(i + 1) * KEY_LEN], "big"),
             tuple(req[i * REQ_FIELDS:(i + 1) * REQ_FIELDS]) if row[i] > ROWS else None)
            if row[i] else None
            for i in range(n)]


def scan_pure(packets: list[bytes], addr: int, addr6: int | None, rows: list[Row], states: list[State],
              now: float) -> list[Answer]:
    """The pure-Python twin of `mt_cookie_scan`: the same answers for the same packets, table
    (our addresses, the rows, their states) and time, down to the Bloom filter's false
    positives."""
    seen = bytearray(FLOW_BITS // 8)
    opaque = False
    rooms = [room for room, _ in states]
    answers: list[Answer] = []
    for pkt in packets:
        kind, addrs, tcp = _tcp_flow(pkt)
        answer: Answer = None
        if kind > 0:
            h = _flow_hash(pkt[addrs:addrs + (32 if tcp == 40 else 8)] + pkt[tcp:tcp + 4])
            v6 = tcp == 40
            width = 16 if v6 else 4
            src = int.from_bytes(pkt[addrs:addrs + width], "big")
            dst = int.from_bytes(pkt[addrs + width:addrs + 2 * width], "big")
            sport = int.from_bytes(pkt[tcp:tcp + 2], "big")
            dport = int.from_bytes(pkt[tcp + 2:tcp + 4], "big")
            ours = addr6 if v6 else addr
            martian = is_martian_source6(src) if v6 else is_martian_source(src)
            if pkt[tcp + 13] & (SYN | ACK | RST | FIN) == SYN and not opaque and dst == ours \
                    and src != dst and not martian and not _seen(seen, h):
                for r, (port, row_v6, params) in enumerate(rows):
                    if port == dport and row_v6 == v6:
                        key = conn_key(dst, dport, src, sport)
                        if rooms[r]:
                            made = request_synack_pure(pkt, False, params, now)
                            if type(made) is tuple:
                                answer = (r, made[0], key, made[1])
                                rooms[r] -= 1
                        elif states[r][1]:
                            synack = cookie_synack_pure(pkt, False, params, now)
                            if type(synack) is bytes:
                                answer = (r, synack, key, None)
                        break
            if answer is None or answer[3] is not None:  # a request holds its flow now
                _add(seen, h)
        elif kind < 0:
            opaque = True
        answers.append(answer)
    return answers


def flow_key(pkt: bytes | memoryview) -> int | None:
    """The four-tuple key (conn_key, as the receiver sees it) of a TCP packet, 0 for a packet of
    no TCP flow, None for one whose flow cannot be seen (behind an IPv4 fragment or IPv6
    extension headers): what tells whether a packet the host takes may share an answered SYN's
    flow (`CookieReader`)."""
    kind, addrs, tcp = _tcp_flow(pkt)
    if kind <= 0:
        return None if kind else 0
    width = 16 if tcp == 40 else 4
    src = int.from_bytes(pkt[addrs:addrs + width], "big")
    dst = int.from_bytes(pkt[addrs + width:addrs + 2 * width], "big")
    return conn_key(dst, int.from_bytes(pkt[tcp + 2:tcp + 4], "big"), src,
                    int.from_bytes(pkt[tcp:tcp + 2], "big"))


def _tcp_flow(pkt: bytes | memoryview) -> tuple[int, int, int]:
    """C tcp_flow: (1, where the addresses are, where TCP is) for TCP whose header is found;
    (0, 0, 0) for what is not TCP; (-1, 0, 0) for what may be TCP behind an IPv4 fragment
    or IPv6 extension headers (its flow unknown)."""
    n = len(pkt)
    if n >= 20 and pkt[0] >> 4 == 4:
        if pkt[9] != 6:
            return 0, 0, 0
        ihl = (pkt[0] & 0x0F) * 4
        if (pkt[6] << 8 | pkt[7]) & 0x3FFF:
            return -1, 0, 0
        return (1, 12, ihl) if ihl >= 20 and n >= ihl + 20 else (0, 0, 0)
    if n >= 40 and pkt[0] >> 4 == 6:
        if pkt[6] != 6:
            return (0, 0, 0) if pkt[6] in (17, 58, 59) else (-1, 0, 0)
        return (1, 8, 40) if n >= 60 else (0, 0, 0)
    return 0, 0, 0


def _flow_hash(data: bytes) -> int:
    h = 2166136261  # FNV-1a, as C flow_hash
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def _seen(bits: bytearray, h: int) -> bool:
    a, b = h % FLOW_BITS, (h >> 13) % FLOW_BITS
    return bool(bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1)


def _add(bits: bytearray, h: int) -> None:
    a, b = h % FLOW_BITS, (h >> 13) % FLOW_BITS
    bits[a >> 3] |= 1 << (a & 7)
    bits[b >> 3] |= 1 << (b & 7)
