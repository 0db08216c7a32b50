"""A cookie's SYN-ACK straight from the SYN's bytes, with no `Connection` made for it.

Under a SYN flood a listener in cookie mode answers every SYN and keeps nothing
(syncookies.py); Linux does so in softirq, from the request sock alone
(tcp_conn_request with want_cookie). `Listener._send_cookie` builds a whole stand-in
`Connection` per SYN (about 40 us of Python); here the same SYN-ACK, byte for byte,
is made by one C call (`mt_cookie_synack` in native/minitcp_native.c) or its
pure-Python twin `cookie_synack_pure`, from the packet and what the listener would
put in any SYN-ACK: `CookieParams`, made once from a stand-in `Connection` with the
listener's socket options (`cookie_params`) and kept while the options and knobs stay.

Both are pure functions of the packet, the parameters and `now`: the listener decides
whether to use them (`Listener.cookie_reply`), counts, and the host sends.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..wire import tcp_pure
from ..wire.accel import NATIVE
from ..wire.errors import WireError
from ..wire.segment import ACK, CWR, ECE, FIN, RST, SYN, Segment, Segment6
from .connection import Connection
from .family import IPV4_MAX
from .isn import IsnGenerator
from .output import syn_window
from .rcvwindow import window_space
from .seq import MASK
from .sockopts import dont_fragment, ip_ttl
from .syncookies import (
    MSSTAB,
    MSSTAB6,
    TCP_SYNCOOKIE_PERIOD,
    SynCookies,
    cookie_timestamp,
    mss_index,
    timestamp_options,
)

if TYPE_CHECKING:
    from .engine import TcpEngine

try:  # the C function, for `cookie_synack` unless MINITCP_PURE says otherwise (wire/accel.py)
    from minitcp._native import ffi, lib
except ImportError:
    ffi = lib = None
else:
    _OUT = ffi.new("char[]", 128)  # a SYN-ACK: 60 bytes of IPv6 and TCP headers, 40 of options at most
    _OUT_BUF = ffi.buffer(_OUT)
    _from_buffer = ffi.from_buffer
    _synack = lib.mt_cookie_synack

_INET_ECN_MASK = 0x03  # RFC 3168 section 5: the ECN field of the TOS byte


@dataclasses.dataclass(frozen=True)
class CookieParams:
    """What a listener puts in every cookie SYN-ACK of one address family (the fields of
    `struct mt_cookie_params`): the engine's `secret`, the family's MSS table, the
    listener's TCP_MAXSEG (`user_mss`, 0 when unset), the MSS we offer, the window without
    and with timestamps, our window scale, the knobs tcp_timestamps, tcp_window_scaling,
    tcp_sack and tcp_ecn, the TTL (hop limit) and TOS (traffic class), and DF. A request
    sock's SYN-ACK is made from them too (reqsk.py)."""

    secret: bytes
    msstab: tuple[int, ...]
    user_mss: int
    advmss: int
    window: int
    window_ts: int
    rcv_wscale: int
    timestamps: bool
    window_scaling: bool
    sack: bool
    ecn: bool
    ttl: int
    tos: int
    df: bool = True  # IP_MTU_DISCOVER's DF (ip_build_and_send_pkt: a cookie's SYN-ACK as a request's)
    native: object = dataclasses.field(default=None, compare=False, repr=False)
    cookies: SynCookies = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The pure twin's hashes are IsnGenerator's, with the keys of the same secret; the C
        # path's are those keys too.
        keys = IsnGenerator(self.secret)
        object.__setattr__(self, "cookies", SynCookies(keys))
        if ffi is not None:
            p = ffi.new("struct mt_cookie_params *")
            for c in (0, 1):
                lib.mt_siphash_key(keys.syncookie_secret[c], ffi.addressof(p.syncookie[c]))
                lib.mt_siphash_key(keys.syncookie6_secret[c], ffi.addressof(p.syncookie6[c]))
            lib.mt_siphash_key(keys.ts_secret, ffi.addressof(p.ts))
            lib.mt_siphash_key(keys.net_secret, ffi.addressof(p.net))  # a request's ISN (request_synack.py)
            p.df = int(self.df)
            p.msstab[0:4] = list(self.msstab)
            for name in ("user_mss", "advmss", "window", "window_ts", "rcv_wscale", "timestamps",
                         "window_scaling", "sack", "ecn", "ttl", "tos"):
                setattr(p, name, int(getattr(self, name)))
            object.__setattr__(self, "native", p)


def cookie_params(engine: TcpEngine, laddr: int, lport: int, options: dict[str, object]) -> CookieParams:
    """The parameters of a listener on `lport` with socket `options`, for SYNs to `laddr`
    (its family decides): read off a stand-in `Connection` given the options, as
    `Listener._send_cookie` makes one per SYN, so both say the same."""
    raddr = laddr ^ 1  # any peer: nothing read here depends on it
    conn = Connection(engine, laddr, lport, raddr, 0)
    for name, value in options.items():
        conn.apply_option(name, value, engine.now)
    conn.rwin.init(conn)  # our window scale, as accept_syn chooses it
    opts = conn.opts
    tos, ttl = (0, engine.knobs.ip_default_ttl) if opts is None else (opts.tos, ip_ttl(conn))
    df = not engine.knobs.ip_no_pmtu_disc if opts is None else dont_fragment(conn)  # output.segment's
    space = window_space(conn)
    knobs = engine.knobs
    return CookieParams(
        secret=engine.isn.secret, msstab=MSSTAB6 if laddr > IPV4_MAX else MSSTAB,
        user_mss=int(options.get("maxseg", 0)),  # type: ignore[call-overload]
        advmss=conn.advmss, window=syn_window(space, conn.advmss),
        window_ts=syn_window(space, conn.advmss - 12), rcv_wscale=conn.rcv_wscale,
        timestamps=bool(knobs.tcp_timestamps), window_scaling=bool(knobs.tcp_window_scaling),
        sack=bool(knobs.tcp_sack), ecn=bool(knobs.tcp_ecn), ttl=ttl, tos=tos, df=df,
    )


def params_key(engine: TcpEngine) -> tuple[object, ...]:
    """What `cookie_params` depends on besides the family and the socket options: while it
    and they stay the same, so do the parameters."""
    k = engine.knobs
    return (engine.mtu, k.tcp_rmem, k.tcp_timestamps, k.tcp_window_scaling, k.tcp_sack, k.tcp_ecn,
            k.ip_default_ttl, k.ip_no_pmtu_disc)


def cookie_synack_native(pkt: bytes | memoryview, csum_partial: bool, p: CookieParams,
                         now: float) -> bytes | int:
    """The cookie SYN-ACK answering the SYN `pkt` at `now`; 0 for a valid segment that is not
    a SYN to answer so (ACK, RST or FIN set; an IPv6 address below 2^32, which the engine's
    tables do not take for IPv6); -reason (`DropReason`) for an invalid packet."""
    n = _synack(pkt if type(pkt) is bytes else _from_buffer(pkt), len(pkt), csum_partial, p.native,
                int(now // TCP_SYNCOOKIE_PERIOD) & MASK, int(now * 1000) & MASK, _OUT, 128)  # cookie_time
    return _OUT_BUF[0:n] if n > 0 else n


def parse_syn_pure(pkt: bytes | memoryview, csum_partial: bool) -> Segment | int:
    """The SYN the C scan answers (native/minitcp_native.c parse_syn), parsed: 0 for a valid
    segment that is not one (ACK, RST or FIN with it, an IPv4-mapped IPv6 address), -reason
    (`DropReason`) for an invalid packet."""
    v6 = len(pkt) > 0 and pkt[0] >> 4 == 6
    try:
        syn = (tcp_pure.parse_tcp6_packet if v6 else tcp_pure.parse_tcp_packet)(pkt, csum_partial)
    except WireError as e:
        return -e.reason
    flags = syn.flags
    if not flags & SYN or flags & (ACK | RST | FIN) or (v6 and (syn.src <= IPV4_MAX or syn.dst <= IPV4_MAX)):
        return 0
    return syn


def cookie_synack_pure(pkt: bytes | memoryview, csum_partial: bool, p: CookieParams,
                       now: float) -> bytes | int:
    """The pure-Python twin of `cookie_synack_native`, the same results: the SYN-ACK
    `Listener._send_cookie` sends, without the stand-in `Connection`."""
    syn = parse_syn_pure(pkt, csum_partial)
    if isinstance(syn, int):
        return syn
    v6, flags = syn.ip_version == 6, syn.flags
    mss = syn.mss if syn.mss else 536
    if p.user_mss:
        mss = min(mss, p.user_mss)
    cookie = p.cookies.cookie(syn.src, syn.dst, syn.sport, syn.dport, syn.seq, mss_index(mss, p.msstab), now)
    # accept_syn and negotiate on the SYN, or on its MSS alone without timestamps.
    ts_ok = p.timestamps and syn.ts_val is not None
    wscale_ok = ts_ok and p.window_scaling and syn.wscale is not None
    sack_ok = ts_ok and p.sack and syn.sack_permitted
    ecn_ok = ts_ok and p.ecn and flags & (ECE | CWR) == ECE | CWR and not syn.tos & _INET_ECN_MASK
    ts_val = None
    if ts_ok:
        bits = timestamp_options(min(syn.wscale or 0, 14) if wscale_ok else None, sack_ok, ecn_ok)
        offset = p.cookies.isn.ts_offset(syn.dst, syn.src)
        ts_val = (cookie_timestamp(int(now * 1000), bits) + offset) & MASK
    synack = synack_segment(p, syn.dst, syn.src, syn.dport, syn.sport, cookie, (syn.seq + 1) & MASK,
                            syn.ts_val, ts_val, wscale_ok, sack_ok, bool(ecn_ok))
    return (tcp_pure.build_tcp6_packet(synack) if v6  # type: ignore[arg-type]
            else tcp_pure.build_tcp_packet(synack))


def synack_segment(p: CookieParams, laddr: int, raddr: int, lport: int, rport: int, isn: int, ack: int,
                   ts_ecr: int | None, ts_val: int | None, wscale_ok: bool, sack_ok: bool,
                   ecn_ok: bool) -> Segment:
    """A listener's SYN-ACK with the options agreed (timestamps when `ts_val` is given), from
    what `p` says of the listener (Linux tcp_make_synack): a cookie's, or a request sock's."""
    synack = (Segment6 if laddr > IPV4_MAX else Segment)(
        laddr, raddr, lport, rport, isn, ack,
        SYN | ACK | (ECE if ecn_ok else 0),  # RFC 3168 section 6.1.1: an ECN-setup SYN-ACK
        p.window if ts_val is None else p.window_ts, tos=p.tos, ttl=p.ttl, df=p.df, mss=p.advmss,
        wscale=p.rcv_wscale if wscale_ok else None, sack_permitted=sack_ok)
    if ts_val is not None:
        synack.ts_val = ts_val
        synack.ts_ecr = ts_ecr
    return synack


cookie_synack = cookie_synack_native if NATIVE else cookie_synack_pure
