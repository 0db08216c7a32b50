"""Counters with the Linux MIB names `nstat` prints (RFC 4022 Tcp* plus TcpExt*).

A plain dict subclass: adding a counter is one line in `MIB`, and `nstat`-style
output is a sort away. Counters that never moved read as 0.
"""

from __future__ import annotations

# Tcp group (RFC 4022 / RFC 1213): ActiveOpens .. OutRsts. CurrEstab is a gauge.
# TcpExt group (Linux include/uapi/linux/snmp.h): the rest.
MIB = (
    "ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets", "CurrEstab",
    "InSegs", "OutSegs", "RetransSegs", "InErrs", "OutRsts", "InCsumErrors",
    "DelayedACKs", "DelayedACKLost", "TW", "TWRecycled", "TWKilled", "TCPTimeWaitOverflow",
    "TCPAbortOnClose", "TCPAbortOnData", "TCPAbortOnMemory", "TCPAbortOnTimeout", "TCPAbortOnLinger",
    "TCPAbortFailed", "SyncookiesSent", "SyncookiesRecv", "SyncookiesFailed", "TCPReqQFullDoCookies",
    "TCPReqQFullDrop", "ListenOverflows", "ListenDrops", "EmbryonicRsts", "TCPChallengeACK",
    "TCPACKSkippedChallenge", "TCPACKSkippedTimeWait", "TCPACKSkippedSynRecv", "TCPACKSkippedSeq",
    "TCPACKSkippedPAWS", "TCPSYNChallenge",
    "PAWSEstabRejected", "TCPTimeouts", "TCPSynRetrans", "TCPFastRetrans", "TCPLossUndo",
    "TCPPureAcks", "TCPHPAcks", "TCPOFOQueue", "TCPOFODrop", "TCPRcvQDrop", "TCPZeroWindowDrop",
    "BeyondWindow",
    "TCPKeepAlive", "TCPWinProbe", "TCPSackRecovery", "TCPRenoRecovery", "TCPDSACKOldSent",
    "TCPDSACKOfoSent",
    "TCPWantZeroWindowAdv", "TCPToZeroWindowAdv", "TCPFromZeroWindowAdv", "TCPOrphanDropped",
    "TCPConnectionErrors", "BusyPollRxPackets", "TCPDeferAcceptDrop",
    # Loss recovery (recovery.py, rack.py, lossprobe.py; Linux tcp_input.c, tcp_output.c).
    "TCPSlowStartRetrans", "TCPLossProbes", "TCPLossProbeRecovery", "TCPFullUndo", "TCPPartialUndo",
    "TCPDSACKUndo", "TCPSpuriousRTOs", "TCPDSACKRecv", "TCPDSACKOfoRecv", "TCPDSACKRecvSegs",
    "TCPDSACKIgnoredOld", "TCPDSACKIgnoredNoUndo", "TCPDSACKIgnoredDubious", "TCPSACKDiscard",
    "TCPSACKReorder", "TCPTSReorder", "TCPRenoReorder", "TCPSackReneging", "TCPLostRetransmit",
    "TCPRetransFail",
    # CUBIC's HyStart exits from slow start (tcp_cubic.c hystart_update): how many, and the
    # cwnd summed over them.
    "TCPHystartTrainDetect", "TCPHystartTrainCwnd", "TCPHystartDelayDetect", "TCPHystartDelayCwnd",
)


class Counters(dict[str, int]):
    def __init__(self) -> None:
        super().__init__((name, 0) for name in MIB)

    def __missing__(self, key: str) -> int:
        return 0

    def moved(self, before: dict[str, int]) -> dict[str, int]:
        """Counters that changed since a snapshot, as deltas (what `nstat` shows)."""
        return {k: v - before.get(k, 0) for k, v in self.items() if v != before.get(k, 0)}
