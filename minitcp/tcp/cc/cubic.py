"""CUBIC with HyStart, as Linux's net/ipv4/tcp_cubic.c (v2.3, the default since 2.6.19).

The window follows W(t) = C (t - K)^3 + W_max (RFC 9438 section 4.2) in Linux's integer
arithmetic: time in jiffies (HZ 250, this kernel's CONFIG_HZ, `knobs.HZ`) turned into
1/1024 s units (BICTCP_HZ), the cube root from Linux's table and one Newton-Raphson step
(`cubic_root`), cwnd grown by tcp_cong_avoid_ai with the per-window count `cnt`. The TCP
friendly region (tcp_friendliness), fast convergence, the 0.7 multiplicative decrease
(beta 717/1024) and HyStart's exit from slow start (an ACK train as long as half the
minimum RTT, or a round's minimum RTT 1/8 above the connection's: hystart_update) are
Linux's. Module parameters are the constants below with their Linux names and defaults.

Times: `now` (seconds) becomes tcp_jiffies32 (u32, from INITIAL_JIFFIES as Linux counts, so
0 stays free to mean "no epoch") and tcp_mstamp (microseconds), both with Linux's wrap.
"""

from __future__ import annotations

from ..knobs import HZ
from ..seq import seq_gt
from .base import CaState, CongestionControl, Sender

U32 = 0xFFFFFFFF
INITIAL_JIFFIES = (-300 * HZ) & U32  # include/linux/jiffies.h: jiffies wrap 5 minutes after boot

BICTCP_BETA_SCALE = 1024  # beta is in 1/1024
BICTCP_HZ = 10  # BIC HZ 2^10 = 1024
HYSTART_ACK_TRAIN = 0x1
HYSTART_DELAY = 0x2
HYSTART_MIN_SAMPLES = 8  # delay samples per round before the delay test
HYSTART_DELAY_MIN = 4000  # us
HYSTART_DELAY_MAX = 16000  # us
ACK_RATIO_SHIFT = 4
USEC_PER_MSEC = 1000
USEC_PER_SEC = 1_000_000
# GSO_LEGACY_MAX_SIZE, what a TUN device offers (sk_gso_max_size, for hystart_ack_delay).
GSO_MAX_SIZE = 65536

# Module parameters (/sys/module/tcp_cubic/parameters), Linux's defaults.
fast_convergence = 1
beta = 717  # 717/1024 = 0.7
initial_ssthresh = 0
bic_scale = 41
tcp_friendliness = 1
hystart = 1
hystart_detect = HYSTART_ACK_TRAIN | HYSTART_DELAY
hystart_low_window = 16
hystart_ack_delta_us = 2000

# cubictcp_register: scale factors precomputed for an SRTT of 100 ms.
beta_scale = 8 * (BICTCP_BETA_SCALE + beta) // 3 // (BICTCP_BETA_SCALE - beta)  # 15
cube_rtt_scale = bic_scale * 10  # 1024 * c / rtt
cube_factor = (1 << (10 + 3 * BICTCP_HZ)) // (bic_scale * 10)  # 2^40 / (c * srtt)

# cubic_root's table: for x in [0..63], v = cbrt(x << 18) - 1 (Willy Tarreau's, refined by hand).
_CBRT = (
    0, 54, 54, 54, 118, 118, 118, 118,
    123, 129, 134, 138, 143, 147, 151, 156,
    157, 161, 164, 168, 170, 173, 176, 179,
    181, 185, 187, 190, 192, 194, 197, 199,
    200, 202, 204, 206, 209, 211, 213, 215,
    217, 219, 221, 222, 224, 225, 227, 229,
    231, 232, 234, 236, 237, 239, 240, 242,
    244, 245, 246, 248, 250, 251, 252, 254,
)


def cubic_root(a: int) -> int:
    """Linux cubic_root: the cube root of a u64 from the table and one Newton-Raphson step
    (average error 0.195%)."""
    b = a.bit_length()  # fls64
    if b < 7:
        return (_CBRT[a] + 35) >> 6  # a in [0..63]
    b = ((b * 84) >> 8) - 1
    shift = a >> (b * 3)
    x = (((_CBRT[shift] + 10) << b) & U32) >> 6
    # x_{k+1} = (2 * x_k + a / x_k^2) / 3, the division by 3 as * 341 >> 10.
    x = (2 * x + (a // (x * (x - 1)) & U32)) & U32
    return ((x * 341) & U32) >> 10


def jiffies(now: float) -> int:
    """tcp_jiffies32 at `now` (the epsilon keeps 0.57 s at 142 jiffies, not 142.4999...)."""
    return (int(now * HZ + 1e-6) + INITIAL_JIFFIES) & U32


def usecs(seconds: float) -> int:
    """A time in microseconds as Linux's u32 clocks keep it (tcp_mstamp, rtt_us)."""
    return int(seconds * USEC_PER_SEC + 1e-3) & U32


def _s32(x: int) -> int:
    """A u32 difference read as signed, as `(s32)(a - b)`."""
    x &= U32
    return x - (1 << 32) if x & 0x80000000 else x


def usecs_to_jiffies(us: int) -> int:
    """Linux usecs_to_jiffies: rounded up."""
    return -(-us * HZ // USEC_PER_SEC)


class Cubic(CongestionControl):
    """Linux `struct bictcp` and cubictcp_* (the tcp_sock fields are the base class's)."""

    __slots__ = ("ack_cnt", "bic_K", "bic_origin_point", "cnt", "curr_rtt", "delay_min", "end_seq",
                 "epoch_start", "found", "last_ack", "last_cwnd", "last_max_cwnd", "last_time",
                 "round_start", "sample_cnt", "tcp_cwnd")

    name = "cubic"

    def __init__(self, init_cwnd: int, sender: Sender | None = None) -> None:
        super().__init__(init_cwnd, sender)
        self._reset()
        self.round_start = self.last_ack = 0
        self.end_seq = 0
        self.curr_rtt = U32
        self.sample_cnt = 0

    def _reset(self) -> None:
        """bictcp_reset: forget the epoch, W_max and the HyStart exit."""
        self.cnt = 0  # increase cwnd by 1 after this many ACKed segments
        self.last_max_cwnd = 0  # W_max
        self.last_cwnd = 0
        self.last_time = 0
        self.bic_origin_point = 0
        self.bic_K = 0  # time to the origin point from the epoch's start, in 1/1024 s
        self.delay_min = 0  # us
        self.epoch_start = 0  # jiffies, 0 for none
        self.ack_cnt = 0
        self.tcp_cwnd = 0  # the window Reno would have (TCP friendliness)
        self.found = 0  # HyStart found the exit

    def _hystart_reset(self, now: float) -> None:
        """bictcp_hystart_reset: a new HyStart round starts, ending at snd_nxt."""
        self.round_start = self.last_ack = usecs(now)
        self.end_seq = self.sender.snd_max
        self.curr_rtt = U32
        self.sample_cnt = 0

    def init(self, now: float) -> None:
        """cubictcp_init (ca_ops->init, at tcp_init_transfer)."""
        self._reset()
        if hystart:
            self._hystart_reset(now)
        if not hystart and initial_ssthresh:
            self.ssthresh = initial_ssthresh

    def on_tx_start(self, now: float) -> None:
        """cubictcp_cwnd_event(CA_EVENT_TX_START): after being application-limited (idle),
        shift the epoch so cwnd keeps to the cubic curve rather than jump."""
        j = jiffies(now)
        delta = _s32(j - jiffies(self.last_send))
        if self.epoch_start and delta > 0:
            self.epoch_start = (self.epoch_start + delta) & U32
            if _s32(self.epoch_start - j) > 0:
                self.epoch_start = j

    def _update(self, cwnd: int, acked: int, now: float) -> None:
        """bictcp_update: the count of ACKed segments per +1 (`cnt`) on the cubic curve."""
        j = jiffies(now)
        self.ack_cnt += acked  # count the number of ACKed packets
        if self.last_cwnd == cwnd and _s32(j - self.last_time) <= HZ // 32:
            return
        # The cubic function updates cnt at most once per jiffy; every reduction zeroes
        # epoch_start, forcing a recalculation.
        if not (self.epoch_start and j == self.last_time):
            self.last_cwnd = cwnd
            self.last_time = j
            if self.epoch_start == 0:
                self.epoch_start = j  # record the beginning of an epoch
                self.ack_cnt = acked
                self.tcp_cwnd = cwnd  # syn with cubic
                if self.last_max_cwnd <= cwnd:
                    self.bic_K = 0
                    self.bic_origin_point = cwnd
                else:
                    # K = cubic_root((W_max - cwnd) * srtt / c), in 1/1024 s (bictcp_HZ).
                    self.bic_K = cubic_root(cube_factor * (self.last_max_cwnd - cwnd))
                    self.bic_origin_point = self.last_max_cwnd
            # t: time since the epoch plus the minimum delay, from jiffies to 1/1024 s.
            t = _s32(j - self.epoch_start) + usecs_to_jiffies(self.delay_min)
            t = (t << BICTCP_HZ) // HZ
            offs = self.bic_K - t if t < self.bic_K else t - self.bic_K
            delta = ((cube_rtt_scale * offs * offs * offs) >> (10 + 3 * BICTCP_HZ)) & U32  # c/rtt (t-K)^3
            if t < self.bic_K:
                bic_target = (self.bic_origin_point - delta) & U32  # below the origin
            else:
                bic_target = (self.bic_origin_point + delta) & U32  # above the origin
            if bic_target > cwnd:
                self.cnt = cwnd // (bic_target - cwnd)
            else:
                self.cnt = 100 * cwnd  # a very small increment
            # The curve's start may be too slow while the bandwidth is unknown: 5% per RTT.
            if self.last_max_cwnd == 0 and self.cnt > 20:
                self.cnt = 20
        if tcp_friendliness:
            # The window Reno would have reached (RFC 9438 section 4.3, W_est), one segment
            # per cwnd * 8 / beta_scale ACKed.
            delta = (cwnd * beta_scale) >> 3
            if self.ack_cnt > delta:
                grown = (self.ack_cnt - 1) // delta  # while (ack_cnt > delta) ack_cnt -= delta
                self.ack_cnt -= grown * delta
                self.tcp_cwnd += grown
            if self.tcp_cwnd > cwnd:  # cubic is slower than Reno: go at Reno's pace
                max_cnt = cwnd // (self.tcp_cwnd - cwnd)
                if self.cnt > max_cnt:
                    self.cnt = max_cnt
        # At most one segment per two ACKed: cwnd grows at most 1.5x per RTT.
        self.cnt = max(self.cnt, 2)

    def cong_avoid(self, acked: int, now: float, cwnd_limited: bool) -> None:
        """cubictcp_cong_avoid."""
        if not cwnd_limited:
            return
        if self.in_slow_start:
            acked = self.slow_start(acked)
            if not acked:
                return
        self._update(self.cwnd, acked, now)
        self.cong_avoid_ai(self.cnt, acked)

    def ssthresh_on_loss(self) -> int:
        """cubictcp_recalc_ssthresh: the epoch ends; W_max is cwnd, or less with fast
        convergence (a flow losing ground yields it); ssthresh is 0.7 cwnd."""
        self.epoch_start = 0
        cwnd = self.cwnd
        if cwnd < self.last_max_cwnd and fast_convergence:
            self.last_max_cwnd = cwnd * (BICTCP_BETA_SCALE + beta) // (2 * BICTCP_BETA_SCALE)
        else:
            self.last_max_cwnd = cwnd
        return max(cwnd * beta // BICTCP_BETA_SCALE, 2)

    def set_ca_state(self, state: CaState, now: float) -> None:
        """cubictcp_state: a timeout (Loss) starts all over."""
        if state == CaState.LOSS:
            self._reset()
            self._hystart_reset(now)
        super().set_ca_state(state, now)

    def _hystart_ack_delay(self) -> int:
        """hystart_ack_delay: a cushion for TSO/GRO aggregation, the time to send four GSO
        packets at the pacing rate, at most 1 ms."""
        rate = self.sender.pacing_rate
        if not rate:
            return 0
        return min(USEC_PER_MSEC, GSO_MAX_SIZE * 4 * USEC_PER_SEC // rate)

    def _hystart_update(self, delay: int, now: float) -> None:
        """hystart_update: exit slow start (ssthresh = cwnd) on an ACK train or a delay rise."""
        if seq_gt(self.sender.snd_una, self.end_seq):
            self._hystart_reset(now)
        if hystart_detect & HYSTART_ACK_TRAIN:
            now_us = usecs(now)
            # First detection: ACKs closely spaced for longer than half the minimum delay.
            if _s32(now_us - self.last_ack) <= hystart_ack_delta_us:
                self.last_ack = now_us
                # minitcp does not pace (Linux SK_PACING_NONE): the threshold is halved.
                threshold = (self.delay_min + self._hystart_ack_delay()) >> 1
                if _s32(now_us - self.round_start) > threshold:
                    self.found = 1
                    counters = self.sender.counters
                    counters["TCPHystartTrainDetect"] += 1
                    counters["TCPHystartTrainCwnd"] += self.cwnd
                    self.ssthresh = self.cwnd
        if hystart_detect & HYSTART_DELAY:
            # Second: the round's minimum RTT over HYSTART_MIN_SAMPLES samples has risen by
            # delay_min/8 (clamped to 4..16 ms).
            if self.curr_rtt > delay:
                self.curr_rtt = delay
            if self.sample_cnt < HYSTART_MIN_SAMPLES:
                self.sample_cnt += 1
            elif self.curr_rtt > self.delay_min + min(max(self.delay_min >> 3, HYSTART_DELAY_MIN),
                                                      HYSTART_DELAY_MAX):
                self.found = 1
                counters = self.sender.counters
                counters["TCPHystartDelayDetect"] += 1
                counters["TCPHystartDelayCwnd"] += self.cwnd
                self.ssthresh = self.cwnd

    def on_rtt_sample(self, rtt: float, acked: int, now: float) -> None:
        """cubictcp_acked (ca_ops->pkts_acked): track the minimum delay; HyStart."""
        # Discard delay samples right after a reduction.
        if self.epoch_start and _s32(jiffies(now) - self.epoch_start) < HZ:
            return
        delay = usecs(rtt) or 1
        if self.delay_min == 0 or self.delay_min > delay:
            self.delay_min = delay  # the first call, or the link delay went down
        if not self.found and self.in_slow_start and hystart and self.cwnd >= hystart_low_window:
            self._hystart_update(delay, now)
