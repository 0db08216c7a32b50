"""The retransmission queue and its SACK scoreboard (RFC 6675; Linux's tcp_rtx_queue of skbs
with TCP_SKB_CB(skb)->sacked, tcp_input.c tcp_sacktag_write_queue and tcp_clean_rtx_queue).

One `Record` per packet sent (a TSO packet is one record of `pcount` segments, Linux
tcp_skb_pcount), in sequence order, with when it was last sent and Linux's `sacked` bits.
The counts Linux keeps beside the queue are kept here the same way, so that
`in_flight` is tcp_packets_in_flight: packets_out - (sacked_out + lost_out) + retrans_out.

Only the queue lives here: which ACK means what for the congestion state is `recovery`'s,
time-based loss marking `rack`'s. Sequence numbers wrap (seq.py); records hold the data and
the FIN (its end counts the FIN, as Linux's end_seq), never the SYN.
"""

from __future__ import annotations

from typing import Protocol

from .seq import MASK, seq_diff, seq_ge, seq_gt, seq_le, seq_lt

# Linux include/net/tcp.h TCPCB_* (the `sacked` byte of struct tcp_skb_cb).
SACKED_ACKED = 0x01  # the peer holds it (SACK)
SACKED_RETRANS = 0x02  # resent, and that retransmission is in flight
LOST = 0x04  # marked lost (RACK, dupthresh, RTO)
EVER_RETRANS = 0x80  # resent at least once (TLP included)
RETRANS = SACKED_RETRANS | EVER_RETRANS  # TCPCB_RETRANS

# Linux tcp_input.c FLAG_*: what one ACK did, as tcp_ack collects it.
FLAG_DATA = 0x01  # the segment carried data
FLAG_WIN_UPDATE = 0x02  # it updated the send window
FLAG_DATA_ACKED = 0x04  # it acknowledged new data
FLAG_RETRANS_DATA_ACKED = 0x08  # some of that had been resent
FLAG_SYN_ACKED = 0x10
FLAG_DATA_SACKED = 0x20  # new SACK information
FLAG_ECE = 0x40
FLAG_LOST_RETRANS = 0x80  # a retransmission was found lost
FLAG_ORIG_SACK_ACKED = 0x200  # never-resent data below high_seq (s)acked
FLAG_SND_UNA_ADVANCED = 0x400
FLAG_DSACKING_ACK = 0x800  # a D-SACK block
FLAG_SACK_RENEGING = 0x2000
FLAG_SET_XMIT_TIMER = 0x1000  # restart the TLP or RTO timer
FLAG_DSACK_TLP = 0x20000  # the D-SACK is for the loss probe
FLAG_ACKED = FLAG_DATA_ACKED | FLAG_SYN_ACKED
FLAG_NOT_DUP = FLAG_DATA | FLAG_WIN_UPDATE | FLAG_ACKED
FLAG_CA_ALERT = FLAG_DATA_SACKED | FLAG_ECE | FLAG_DSACKING_ACK
FLAG_FORWARD_PROGRESS = FLAG_ACKED | FLAG_DATA_SACKED


class Record:
    """One packet in flight or SACKed: [seq, end) with the FIN if `fin`."""

    __slots__ = ("end", "fin", "order", "pcount", "sacked", "sent", "seq", "tx_delivered")

    def __init__(self, seq: int, end: int, pcount: int, sent: float, fin: bool, order: int,
                 tx_delivered: int = 0) -> None:
        self.seq = seq
        self.end = end
        self.pcount = pcount
        self.sent = sent  # when it last left (Linux skb->skb_mstamp_ns)
        # Which transmission that was, counting all: orders the packets sent at one instant of
        # virtual time, where Linux's nanosecond stamps differ (tcp_rack_sent_after).
        self.order = order
        # The connection's delivered count when it last left (Linux tcp_rate_skb_sent's
        # TCP_SKB_CB(skb)->tx.delivered): which round trip its delivery closes.
        self.tx_delivered = tx_delivered
        self.sacked = 0
        self.fin = fin

    @property
    def data_len(self) -> int:
        return seq_diff(self.end, self.seq) - self.fin

    def __repr__(self) -> str:
        return f"<Record {self.seq}:{self.end} x{self.pcount} sacked={self.sacked:#x}>"


class Rack(Protocol):
    def advance(self, sacked: int, end: int, sent: float, order: int, now: float) -> None: ...


class AckState:
    """What tagging and cleaning found on one ACK (Linux struct tcp_sacktag_state, with the
    undo counts tcp_sacktag_one adjusts)."""

    __slots__ = ("acked_sacked", "first_ackt", "first_sackt", "flag", "fully_acked", "high_seq",
                 "last_ackt", "last_sackt", "pkts_acked", "prior_delivered", "reord", "sack_delivered",
                 "tsecr", "undo_marker", "undo_retrans")

    def __init__(self, reord: int, high_seq: int, undo_marker: int | None, undo_retrans: int) -> None:
        self.flag = 0
        self.reord = reord  # the lowest newly (s)acked never-resent sequence (starts at snd_nxt)
        self.first_sackt: float | None = None  # send times of the first and last such record
        self.last_sackt: float | None = None
        self.sack_delivered = 0
        self.high_seq = high_seq
        self.undo_marker = undo_marker
        self.undo_retrans = undo_retrans
        # What the cumulative ACK removed (tcp_clean_rtx_queue): segments, never-resent send times.
        self.pkts_acked = 0
        self.first_ackt: float | None = None
        self.last_ackt: float | None = None
        self.fully_acked = True
        self.acked_sacked = 0  # newly delivered (acked or sacked) segments (tcp_newly_delivered)
        # The ACK's echoed timestamp in our millisecond clock (RFC 7323; None: none echoed).
        self.tsecr: int | None = None
        # The delivered count when the newest packet this ACK delivered left (Linux's rate
        # sample rs->prior_delivered, tcp_rate_skb_delivered; 0: nothing newly delivered).
        self.prior_delivered = 0


def pcount_of(data_len: int, mss: int) -> int:
    """Linux tcp_set_skb_tso_segs: ceil(len / mss), a FIN alone counting one."""
    return max(-(-data_len // mss), 1)


class Scoreboard:
    __slots__ = ("fack", "lost", "lost_out", "mss", "packets_out", "recs", "retrans_out", "sacked_out",
                 "sends")

    def __init__(self, mss: int) -> None:
        self.recs: list[Record] = []
        self.mss = mss
        self.packets_out = self.sacked_out = self.lost_out = self.retrans_out = 0
        # The end of the highest SACKed record (Linux tcp_highest_sack_seq; None: snd_una).
        self.fack: int | None = None
        self.lost = 0  # segments ever marked lost, lost retransmissions included (tp->lost)
        self.sends = 0  # transmissions so far (each record's `order`)

    # ------------------------------------------------------------------ counts

    @property
    def in_flight(self) -> int:
        """Linux tcp_packets_in_flight (RFC 6675's pipe, by Linux's rules)."""
        return self.packets_out - (self.sacked_out + self.lost_out) + self.retrans_out

    @property
    def left_out(self) -> int:
        return self.sacked_out + self.lost_out  # tcp_left_out

    def fack_or(self, snd_una: int) -> int:
        """Linux tcp_highest_sack_seq."""
        return snd_una if not self.sacked_out or self.fack is None else self.fack

    def head(self) -> Record | None:
        return self.recs[0] if self.recs else None

    # ------------------------------------------------------------------ sending

    def add(self, seq: int, end: int, now: float, fin: bool, delivered: int = 0) -> Record:
        """A new packet left (Linux tcp_event_new_data_sent: onto the retransmission queue),
        `delivered` segments having been delivered so far (tcp_rate_skb_sent)."""
        self.sends += 1
        rec = Record(seq, end, pcount_of(seq_diff(end, seq) - fin, self.mss), now, fin, self.sends,
                     delivered)
        self.recs.append(rec)
        self.packets_out += rec.pcount
        return rec

    def resent(self, rec: Record, now: float, counted: bool = True, delivered: int = 0) -> None:
        """`rec` went again (Linux tcp_retransmit_skb: RETRANS and retrans_out; a loss probe,
        __tcp_retransmit_skb alone, only EVER_RETRANS: `counted` False), `delivered` segments
        having been delivered so far (tcp_rate_skb_sent)."""
        if counted:
            if not rec.sacked & SACKED_RETRANS:
                self.retrans_out += rec.pcount
            rec.sacked |= RETRANS
        else:
            rec.sacked |= EVER_RETRANS
        rec.sent = now
        rec.tx_delivered = delivered
        self.sends += 1
        rec.order = self.sends

    def mark_lost(self, rec: Record) -> int:
        """Linux tcp_mark_skb_lost: LOST once; a lost retransmission stops counting in flight.
        Returns the segments of a retransmission found lost again (Linux counts them as
        TCPLostRetransmit there), else 0."""
        sacked = rec.sacked
        if sacked & SACKED_ACKED:
            return 0
        if sacked & LOST:
            if sacked & SACKED_RETRANS:
                rec.sacked &= ~SACKED_RETRANS
                self.retrans_out -= rec.pcount
                self.lost += rec.pcount
                return rec.pcount
            return 0
        self.lost += rec.pcount
        self.lost_out += rec.pcount
        rec.sacked |= LOST
        return 0

    def unmark_lost(self) -> None:
        """Linux tcp_undo_cwnd_reduction(unmark_loss): nothing is lost after all."""
        for rec in self.recs:
            rec.sacked &= ~LOST
        self.lost_out = 0

    def renege(self) -> None:
        """Linux tcp_timeout_mark_lost on a reneging receiver: forget every SACK."""
        for rec in self.recs:
            rec.sacked &= ~SACKED_ACKED
        self.sacked_out = 0
        self.fack = None

    def split(self, i: int, nbytes: int) -> None:
        """Cut record `i` after `nbytes` of data (Linux tcp_fragment in the rtx queue, with
        tcp_adjust_pcount): both parts keep its bits and send time, the FIN goes with the second."""
        rec = self.recs[i]
        mss = self.mss
        at = (rec.seq + nbytes) & MASK
        tail = Record(at, rec.end, pcount_of(seq_diff(rec.end, at) - rec.fin, mss), rec.sent, rec.fin,
                      rec.order, rec.tx_delivered)
        tail.sacked = rec.sacked
        rec.end = at
        rec.fin = False
        head_count = pcount_of(nbytes, mss)
        delta = head_count + tail.pcount - rec.pcount
        rec.pcount = head_count
        self.recs.insert(i + 1, tail)
        self._adjust(rec.sacked, delta)

    def collapse(self, i: int) -> None:
        """Record `i + 1` joins record `i` (Linux tcp_collapse_retrans, the retransmission queue's
        side): `i` ends where it ended, takes its FIN and its EVER_RETRANS, keeps its own other
        bits, send time and count (one segment: the caller keeps both within an MSS); the
        counts lose the second's (tcp_adjust_pcount)."""
        rec, nxt = self.recs[i], self.recs[i + 1]
        rec.end = nxt.end
        rec.fin = nxt.fin
        rec.sacked |= nxt.sacked & EVER_RETRANS
        del self.recs[i + 1]
        self._adjust(nxt.sacked, -nxt.pcount)

    def recount(self, i: int) -> None:
        """Record `i` counted again in segments of the current MSS (Linux tcp_set_skb_tso_segs
        with tcp_adjust_pcount, when an skb is resent after the MSS changed)."""
        rec = self.recs[i]
        count = pcount_of(rec.data_len, self.mss)
        delta = count - rec.pcount
        rec.pcount = count
        self._adjust(rec.sacked, delta)

    def _adjust(self, sacked: int, delta: int) -> None:
        if not delta:
            return
        self.packets_out += delta
        if sacked & SACKED_ACKED:
            self.sacked_out += delta
        if sacked & LOST:
            self.lost_out += delta
        if sacked & SACKED_RETRANS:
            self.retrans_out += delta

    def set_mss(self, mss: int) -> None:
        """A new MSS: the records keep their counts until resent or cut (as Linux's skbs)."""
        self.mss = mss

    # ------------------------------------------------------------------ SACK tagging

    def sacktag(self, start: int, end: int, dup_sack: bool, snd_una: int, st: AckState, rack: Rack,
                now: float) -> None:
        """Tag what one SACK block covers (Linux tcp_sacktag_walk with tcp_match_skb_to_sack,
        which cuts a TSO record so that a block covers whole segments, and tcp_sacktag_one)."""
        recs = self.recs
        i = self._first_ending_after(start)
        mss = self.mss
        while i < len(recs):
            rec = recs[i]
            if not seq_lt(rec.seq, end):
                break
            in_sack = seq_le(start, rec.seq) and seq_ge(end, rec.end)
            if not in_sack and rec.pcount > 1 and seq_gt(rec.end, start):
                head_in = seq_le(start, rec.seq)
                if not head_in:
                    pkt_len = max(seq_diff(start, rec.seq), mss)
                else:
                    pkt_len = seq_diff(end, rec.seq)
                    if pkt_len < mss:
                        i += 1
                        continue
                if pkt_len > mss:
                    rounded = pkt_len // mss * mss
                    if not head_in and rounded < pkt_len:
                        rounded += mss
                    pkt_len = rounded
                if pkt_len >= rec.data_len:
                    if not head_in:
                        i += 1
                        continue
                else:
                    self.split(i, pkt_len)
                in_sack = head_in
            if in_sack:
                rec.sacked = self._tag_one(rec, dup_sack, snd_una, st, rack, now)
                if rec.sacked & SACKED_ACKED and (self.fack is None or seq_gt(rec.end, self.fack)):
                    self.fack = rec.end  # tcp_advance_highest_sack
            i += 1

    def _first_ending_after(self, seq: int) -> int:
        """Index of the first record whose end is beyond `seq` (halving the queue)."""
        recs = self.recs
        lo, hi = 0, len(recs)
        while lo < hi:
            mid = (lo + hi) // 2
            if seq_le(recs[mid].end, seq):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _tag_one(self, rec: Record, dup_sack: bool, snd_una: int, st: AckState, rack: Rack,
                 now: float) -> int:
        """Linux tcp_sacktag_one: the new bits of one record a block covers."""
        sacked = rec.sacked
        pcount = rec.pcount
        # Account D-SACK for retransmitted packet: one fewer retransmission to be proven spurious.
        if dup_sack and sacked & RETRANS:
            if st.undo_marker is not None and st.undo_retrans > 0 and seq_gt(rec.end, st.undo_marker):
                st.undo_retrans = max(st.undo_retrans - pcount, 0)
            if sacked & SACKED_ACKED and seq_lt(rec.seq, st.reord):
                st.reord = rec.seq
        # Nothing to do; acked frame is about to be dropped (was ACKed).
        if not seq_gt(rec.end, snd_una):
            return sacked
        if not sacked & SACKED_ACKED:
            rack.advance(sacked, rec.end, rec.sent, rec.order, now)
            if sacked & SACKED_RETRANS:
                # If the segment was resent and is LOST, the retransmission arrived (or the
                # original did); either way it is no longer counted as lost nor in flight.
                if sacked & LOST:
                    sacked &= ~(LOST | SACKED_RETRANS)
                    self.lost_out -= pcount
                    self.retrans_out -= pcount
            else:
                if not sacked & RETRANS:
                    # First SACK of a never-resent segment below the highest SACK: reordering.
                    if seq_lt(rec.seq, self.fack_or(snd_una)) and seq_lt(rec.seq, st.reord):
                        st.reord = rec.seq
                    if not seq_gt(rec.end, st.high_seq):
                        st.flag |= FLAG_ORIG_SACK_ACKED
                    if st.first_sackt is None:
                        st.first_sackt = rec.sent
                    st.last_sackt = rec.sent
                if sacked & LOST:
                    sacked &= ~LOST
                    self.lost_out -= pcount
            sacked |= SACKED_ACKED
            st.flag |= FLAG_DATA_SACKED
            self.sacked_out += pcount
            st.sack_delivered += pcount
            st.prior_delivered = max(st.prior_delivered, rec.tx_delivered)  # tcp_rate_skb_delivered
        # D-SACK: the retransmission is not in flight (the original was delivered).
        if dup_sack and sacked & SACKED_RETRANS:
            sacked &= ~SACKED_RETRANS
            self.retrans_out -= pcount
        return sacked

    # ------------------------------------------------------------------ cumulative ACK

    def clean(self, ack: int, sack_ok: bool, st: AckState, rack: Rack, now: float) -> None:
        """Linux tcp_clean_rtx_queue: take what `ack` covers off the queue, counting it, noting
        the send times of never-resent records (Karn: only they give an RTT sample) and the
        lowest of them (`reord`, a hole filled by a late original is reordering)."""
        recs = self.recs
        n = 0
        for rec in recs:
            sacked = rec.sacked
            if seq_gt(rec.end, ack):
                if rec.pcount == 1 or not seq_gt(ack, rec.seq):
                    break
                acked = self.trim_head(rec, ack)
                if not acked:
                    break
                st.fully_acked = False
                start = rec.seq
            else:
                acked = rec.pcount
                start = rec.seq
            if sacked & RETRANS:
                if sacked & SACKED_RETRANS:
                    self.retrans_out -= acked
                st.flag |= FLAG_RETRANS_DATA_ACKED
            elif not sacked & SACKED_ACKED:
                st.last_ackt = rec.sent
                if st.first_ackt is None:
                    st.first_ackt = rec.sent
                if seq_lt(start, st.reord):
                    st.reord = start
                if not seq_gt(rec.end, st.high_seq):
                    st.flag |= FLAG_ORIG_SACK_ACKED
            if sacked & SACKED_ACKED:
                self.sacked_out -= acked
            elif sack_ok:
                st.acked_sacked += acked
                st.prior_delivered = max(st.prior_delivered, rec.tx_delivered)  # tcp_rate_skb_delivered
                if not self._spurious_retrans(rec, st.tsecr):
                    rack.advance(sacked, rec.end, rec.sent, rec.order, now)
            if sacked & LOST:
                self.lost_out -= acked
            self.packets_out -= acked
            st.pkts_acked += acked
            st.flag |= FLAG_DATA_ACKED
            if not st.fully_acked:
                break
            n += 1
        if n:
            del recs[:n]
        if recs and recs[0].sacked & SACKED_ACKED and st.fully_acked:
            st.flag |= FLAG_SACK_RENEGING
        if not self.sacked_out:
            self.fack = None

    @staticmethod
    def _spurious_retrans(rec: Record, tsecr: int | None) -> bool:
        """Linux tcp_skb_spurious_retrans: a resent record whose ACK echoes a timestamp older
        than its last transmission was delivered by an earlier copy; its send time says
        nothing to RACK (tcp_clean_rtx_queue skips tcp_rack_advance for it)."""
        return bool(rec.sacked & RETRANS) and tsecr is not None and \
            seq_lt(tsecr, int(rec.sent * 1000) & MASK)

    def trim_head(self, rec: Record, ack: int) -> int:
        """Linux tcp_tso_acked: a TSO record partly acknowledged loses its acknowledged
        segments; returns how many."""
        nbytes = seq_diff(ack, rec.seq)
        left = rec.data_len - nbytes
        if left <= 0:
            return 0
        new_count = pcount_of(left, self.mss)
        acked = rec.pcount - new_count
        if acked <= 0:
            return 0
        rec.seq = ack
        rec.pcount = new_count
        return acked

    def trim_acked_head(self, i: int, snd_una: int) -> None:
        """Record `i`, partly below `snd_una`, starts there (Linux tcp_trim_head before a
        retransmission); its count follows at the resend's `recount`."""
        self.recs[i].seq = snd_una

    def check_invariants(self, snd_una: int, snd_nxt: int) -> None:
        """The queue and its counts agree (tests and fuzzing; Linux tcp_verify_left_out)."""
        packets = sacked = lost = retrans = 0
        prev = None
        for rec in self.recs:
            assert rec.pcount >= 1 and seq_gt(rec.end, rec.seq), rec
            if prev is not None:
                assert rec.seq == prev.end, (prev, rec)
            assert seq_ge(rec.seq, snd_una) or seq_gt(rec.end, snd_una), rec
            assert seq_le(rec.end, snd_nxt), rec
            packets += rec.pcount
            if rec.sacked & SACKED_ACKED:
                sacked += rec.pcount
                assert not rec.sacked & LOST, rec
            if rec.sacked & LOST:
                lost += rec.pcount
            if rec.sacked & SACKED_RETRANS:
                retrans += rec.pcount
            prev = rec
        assert (packets, sacked, lost, retrans) == (
            self.packets_out, self.sacked_out, self.lost_out, self.retrans_out), (
            (packets, sacked, lost, retrans), (self.packets_out, self.sacked_out, self.lost_out,
                                               self.retrans_out))
        assert self.sacked_out + self.lost_out <= self.packets_out
        assert self.in_flight >= 0
