"""A request sock's SYN-ACK and fields straight from the SYN's bytes, with no `Segment` made.

While a listener's SYN queue has room, Linux answers a SYN with a request sock
(tcp_conn_request -> inet_reqsk_alloc, tcp_openreq_init) and its SYN-ACK (tcp_make_synack),
in softirq. Under a burst of SYNs the host's batch path (minitcp/host/cookie_batch.py) does
the same in C (`mt_request_synack` in native/minitcp_native.c, called by `mt_cookie_scan`):
the SYN-ACK's bytes and the request's fields (`REQ_*` slots of `struct mt_cookie_table`'s
scan), from which `RequestSock.from_fields` makes the request. `request_synack_pure` is its
pure-Python twin, the same results: what `RequestSock.__init__` agrees and `RequestSock.synack`
sends, for the ISN secure_tcp_seq gives (`IsnGenerator.isn`) and the timestamp offset
secure_tcp_ts_off gives.
"""

from __future__ import annotations

from ..wire import tcp_pure
from ..wire.segment import CWR, ECE
from .cookie_synack import CookieParams, parse_syn_pure, synack_segment
from .seq import MASK

# The request's fields, the slots of `req[MT_REQ_FIELDS]` (native/minitcp_native.h): our ISN, the
# peer's, its MSS (0: none), its window scale, what it carried and what was agreed (REQ_BITS),
# its TSval, its window, our timestamp offset for it (0 without timestamps).
REQ_ISS, REQ_IRS, REQ_MSS, REQ_WSCALE, REQ_BITS, REQ_TS_VAL, REQ_WINDOW, REQ_TS_OFFSET = range(8)
REQ_FIELDS = 8
# Bits of REQ_BITS (MT_REQ_*).
HAS_WSCALE, HAS_TS, PEER_SACK, TS_OK, WSCALE_OK, SACK_OK, ECN_OK, DATA = (1 << b for b in range(8))

_INET_ECN_MASK = 0x03  # the ECN field of the IP TOS byte (RFC 3168 section 5)

Fields = tuple[int, int, int, int, int, int, int, int]


def request_synack_pure(pkt: bytes | memoryview, csum_partial: bool, p: CookieParams,
                        now: float) -> tuple[bytes, Fields] | int:
    """The SYN-ACK of the request a listener with parameters `p` makes at `now` for the SYN
    `pkt`, and the request's fields; 0 for a valid segment that is not a SYN to answer so,
    -reason for an invalid packet (as `cookie_synack_pure`)."""
    syn = parse_syn_pure(pkt, csum_partial)
    if isinstance(syn, int):
        return syn
    v6, flags = syn.ip_version == 6, syn.flags
    # RequestSock.__init__ (Linux tcp_openreq_init, tcp_ecn_create_request).
    ts_ok = syn.ts_val is not None and p.timestamps
    wscale_ok = syn.wscale is not None and p.window_scaling
    sack_ok = syn.sack_permitted and p.sack
    ecn_ok = p.ecn and flags & (ECE | CWR) == ECE | CWR and not syn.tos & _INET_ECN_MASK
    keys = p.cookies.isn
    iss = keys.isn(syn.dst, syn.dport, syn.src, syn.sport, now)
    offset = keys.ts_offset(syn.dst, syn.src) if ts_ok else 0
    bits = ((HAS_WSCALE if syn.wscale is not None else 0) | (HAS_TS if syn.ts_val is not None else 0)
            | (PEER_SACK if syn.sack_permitted else 0) | (TS_OK if ts_ok else 0)
            | (WSCALE_OK if wscale_ok else 0) | (SACK_OK if sack_ok else 0) | (ECN_OK if ecn_ok else 0)
            | (DATA if syn.payload else 0))
    fields = (iss, syn.seq, syn.mss or 0, syn.wscale or 0, bits, syn.ts_val or 0, syn.window, offset)
    # RequestSock.synack.
    ts_val = (int(now * 1000) + offset) & MASK if ts_ok else None
    synack = synack_segment(p, syn.dst, syn.src, syn.dport, syn.sport, iss, (syn.seq + 1) & MASK, syn.ts_val,
                            ts_val, bool(wscale_ok), bool(sack_ok), bool(ecn_ok))
    return (tcp_pure.build_tcp6_packet(synack) if v6  # type: ignore[arg-type]
            else tcp_pure.build_tcp_packet(synack)), fields
