# ruff: noqa: RUF001, RUF002, RUF003  (the Chinese text uses full-width punctuation)
"""Every word a ladder diagram says to a learner, in English and Chinese (`lang="en"|"zh"`).

Segment labels (`FIN seq=101 ack=301`), state names, flags, errno names and counters stay as
Linux and tcpdump print them in both languages; everything else (headings, tags, drop reasons,
call notes, break markers) is here. `width` and `wrap` measure and break text by display
columns, so that Chinese (two columns a character) lines up and never breaks inside a word.
"""

from __future__ import annotations

import re
import unicodedata

from .events import CallEvent, CongestionEvent

HEADINGS = {
    "en": {"time": "time ms", "peer": "peer", "later": "{} later", "others": "other connections",
           "fault": "fault"},
    "zh": {"time": "时间（毫秒）", "peer": "对端", "later": "{}之后", "others": "其他连接", "fault": "故障"},
}

# Arrow tags: "(retransmit)" and "[dropped]" ...; a fault's own action ("delay 50ms") is translated
# word by word below.
TAGS = {
    "zh": {"retransmit": "重传", "dropped": "被丢弃", "lost": "丢失", "dup": "重复", "delay": "延迟",
           "reorder": "乱序", "fast": "快速",
           "TSO": "TSO 分段", "GRO": "GRO 合并"},
}

# Why the engine ignored a segment or gave up a connection (the engine's reasons, tcp/*.py).
REASONS_ZH = {
    "ACK for data not yet sent": "确认了尚未发送的数据",
    "ACK too old (RFC 5961 section 5.2)": "ACK 太旧（RFC 5961 第 5.2 节）",
    "PAWS: old timestamp": "PAWS：时间戳过旧",
    "RST not at rcv_nxt (RFC 5961)": "RST 不在 rcv_nxt（RFC 5961）",
    "RST without ACK in SYN-SENT": "SYN_SENT 状态收到不带 ACK 的 RST",
    "SYN on a synchronized connection (insecure: reset)": "已同步的连接收到 SYN（不安全：重置）",
    "SYN on a synchronized connection": "已同步的连接收到 SYN",
    "SYN queue full": "SYN 队列已满",
    "TCP_DEFER_ACCEPT: a bare ACK, waiting for data": "TCP_DEFER_ACCEPT：只有 ACK，等待数据",
    "accept queue full": "全连接队列已满",
    "accept queue full (tcp_abort_on_overflow)": "全连接队列已满（tcp_abort_on_overflow）",
    "bad SYN cookie": "SYN cookie 无效",
    "beyond the receive window": "超出接收窗口",
    "no ACK": "没有 ACK",
    "no SYN in SYN-SENT": "SYN_SENT 状态收到的报文没有 SYN",
    "no socket on this port": "该端口上没有套接字",
    "not a SYN, to a listening port": "发往监听端口的报文不是 SYN",
    "outside the receive window": "落在接收窗口之外",
    "receive window is zero": "接收窗口为零",
    "unacceptable ACK in SYN-RECEIVED": "SYN_RECEIVED 状态收到不可接受的 ACK",
    "unacceptable ACK in SYN-SENT": "SYN_SENT 状态收到不可接受的 ACK",
    "SYN in SYN-RECEIVED": "SYN_RECEIVED 状态收到 SYN",
    "RST in SYN-RECEIVED: back to LISTEN": "SYN_RECEIVED 状态收到 RST：回到 LISTEN",
    "connection refused": "连接被拒绝",
    "connection reset by peer": "连接被对端重置",
    "data after close": "关闭之后又收到数据",
    "tcp_fin_timeout in FIN-WAIT-2": "FIN_WAIT_2 超过 tcp_fin_timeout",
    "ICMP error about our SYN-ACK": "关于我方 SYN-ACK 的 ICMP 差错",
    "engine error": "协议栈内部错误",
    "close with unread data": "关闭时还有未读的数据",
    "SO_LINGER 0": "SO_LINGER 为 0",
    "too many orphaned sockets (tcp_max_orphans)": "孤儿套接字太多（tcp_max_orphans）",
    "listener closed": "监听套接字已关闭",
    "shutdown() in SYN-SENT (tcp_disconnect)": "在 SYN_SENT 状态调用 shutdown()（tcp_disconnect）",
    "retransmissions exhausted": "重传次数用尽",
    "TCPACKSkippedPAWS": "TCPACKSkippedPAWS",
    "zero-window probes unanswered": "零窗口探测没有回应",
    "keepalive probes unanswered": "保活探测没有回应",
}

# The engine's reasons with a number or a name in them (tcp/timeouts.py, tcp/engine.py).
_REASON_PATTERNS_ZH = (
    (re.compile(r"ICMP error while opening: (\S+)"), "建立连接时收到 ICMP 差错：{}"),
    (re.compile(r"gave up after (\d+) retransmissions"), "重传 {} 次后放弃"),
)

CALL_NOTES = {
    "en": {"others_open": "other handle open, nothing sent", "eof": "end of stream (the peer's FIN)",
           "last": ""},
    "zh": {"others_open": "还有别的句柄打开着，什么也不发送", "eof": "数据流结束（对端的 FIN）", "last": ""},
}
_BYTES = {"en": "bytes", "zh": "字节"}


# The trace's host names, as a column header says them (others, and minitcp and linux, as they are).
HOST_NAMES = {"zh": {"peer": "对端", "client": "客户端", "server": "服务端", "local": "本机"}}


def host_name(name: str, lang: str = "en") -> str:
    return HOST_NAMES.get(lang, {}).get(name, name)


def heading(key: str, lang: str = "en") -> str:
    return HEADINGS.get(lang, HEADINGS["en"])[key]


def colon(lang: str = "en") -> str:
    return "：" if lang == "zh" else ": "


def tag(text: str, lang: str = "en") -> str:
    """An arrow's tag in `lang`: "retransmit" -> "重传", "delay 50ms" -> "延迟 50ms"."""
    table = TAGS.get(lang)
    if not table:
        return text
    word, _, rest = text.partition(" ")
    return table.get(word, word) + (f" {rest}" if rest else "")


def reason(text: str, lang: str = "en") -> str:
    if lang != "zh":
        return text
    if text in REASONS_ZH:
        return REASONS_ZH[text]
    for pattern, zh in _REASON_PATTERNS_ZH:
        m = pattern.fullmatch(text)
        if m:
            return zh.format(*m.groups())
    return text


def drop_text(segment: str | None, why: str, lang: str = "en") -> str:
    """`drop (ACK ack=1): PAWS: old timestamp` / `丢弃（ACK ack=1）：PAWS：时间戳过旧`."""
    if lang == "zh":
        return f"丢弃{f'（{segment}）' if segment else ''}：{reason(why, lang)}"
    return f"drop{f' ({segment})' if segment else ''}: {why}"


def congestion_text(e: CongestionEvent, lang: str = "en") -> str:
    """`ca Open → Recovery cwnd=7 ...` / `拥塞状态 Open → Recovery cwnd=7 ...`: the state names are
    Linux's (TCP_CA_*), the fields as `ss -i` names them."""
    return ("拥塞状态" + e.text.removeprefix("ca")) if lang == "zh" else e.text


def call_text(e: CallEvent, lang: str = "en") -> str:
    """strace's way: `connect(fd 3, 198.18.0.1:80) = -1 EADDRNOTAVAIL`, `recv(fd 4) = 0 — end of stream`."""
    args = [f"fd {e.fd}"]
    if e.call == "send" and e.arg.isdigit():
        args.append(f"{e.arg} {_BYTES.get(lang, 'bytes')}")
    elif e.arg:
        args.append(e.arg)
    out = f"{e.call}({', '.join(args)}) = {e.ret}"
    if e.error:
        out += f" {e.error}"
    note = CALL_NOTES.get(lang, CALL_NOTES["en"]).get(e.note, e.note)
    return f"{out} — {note}" if note else out


def others_text(count: int, which: str, segments: int, ends: str, lang: str = "en") -> str:
    """The line that stands for the connections a ladder leaves out."""
    if lang == "zh":
        return (f"其他连接：{count} 个（{which}），{segments} 个报文" + (f"，最终状态 {ends}" if ends else "")
                + "；用 --conn all 或 --conn N 查看")
    ending = f", ending {ends}" if ends else ""
    return (f"other connections: {count} ({which}), {segments} segments{ending}; "
            "see them with --conn all or --conn N")


def duration(seconds: float, lang: str = "en") -> str:
    """A break's length: `60.0 s`, `850 ms` (`60.0 秒`, `850 毫秒`)."""
    if lang == "zh":
        return f"{seconds:.1f} 秒" if seconds >= 1 else f"{seconds * 1000:.0f} 毫秒"
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def width(text: str) -> int:
    """Display columns: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# A run that must stay whole: a Latin word or one CJK character, with any closing punctuation
# after it (a line never starts with "，" or "）").
_CJK = "\u2e80-\u9fff\uff00-\uffef"  # CJK characters and punctuation, full-width forms
_CLOSING = "\u3001\u3002\uff0c\uff09\uff1a\uff1b\uff01\uff1f\u300b\u300d"  # 、。，）：；！？》」
_PIECE = re.compile(f"[{_CJK}][{_CLOSING}]*|[^\\s{_CJK}]+[{_CLOSING}]*|\\s+")


def wrap(text: str, columns: int) -> list[str]:
    """Lines of at most `columns` display columns, broken between words or CJK characters only."""
    lines: list[str] = []
    line = ""
    for piece in _PIECE.findall(text):
        if piece.isspace():
            if line:
                line += " "
            continue
        if line and width(line) + width(piece) > columns:
            lines.append(line.rstrip())
            line = ""
        line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines
