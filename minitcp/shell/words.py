# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""What the shell says, in English and Chinese: each command's usage and help, and its messages.

One entry per command holds both languages side by side, so neither can miss one; socket
calls, option names, states and flags stay as Linux names them.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Help:
    usage: str
    en: str
    zh: str

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


HELP: dict[str, Help] = {
    "connect": Help("connect [ADDR:]PORT",
                    "a new minitcp socket connects to the peer (default address 198.18.0.1); it is named "
                    "s1, s2...",
                    "新建一个 minitcp 套接字并连接对端（默认地址 198.18.0.1），名字依次为 s1、s2……"),
    "listen": Help("listen PORT",
                   "a new minitcp socket listens on PORT (bind, then listen)",
                   "新建一个 minitcp 套接字，在 PORT 上监听（先 bind 再 listen）"),
    "accept": Help("accept SOCKET",
                   "accept() a connection on a listening socket: the new socket gets the next name",
                   "在监听套接字上 accept() 一个连接：新套接字取下一个名字"),
    "send": Help("send SOCKET TEXT",
                 "send() the text (as UTF-8 bytes, no newline added)",
                 "send() 这段文字（UTF-8 字节，不加换行）"),
    "recv": Help("recv SOCKET [N]",
                 "recv() up to N bytes (default 65536); b'' means the peer closed its side",
                 "recv() 最多 N 个字节（默认 65536）；b'' 表示对端关闭了它那一侧"),
    "shutdown": Help("shutdown SOCKET [wr|rd|rdwr]",
                     "shutdown() one direction (default wr: send a FIN, keep receiving)",
                     "shutdown() 一个方向（默认 wr：发出 FIN，仍可接收）"),
    "close": Help("close SOCKET",
                  "close() this handle; the connection closes when its last handle does (see dup)",
                  "close() 这个句柄；连接在最后一个句柄关闭时才关闭（见 dup）"),
    "dup": Help("dup SOCKET",
                "dup() a socket: a second handle to the same connection",
                "dup() 一个套接字：同一个连接的第二个句柄"),
    "setsockopt": Help("setsockopt SOCKET OPTION VALUE...",
                       "set a socket option, e.g. SO_LINGER 1 0, TCP_NODELAY 1, SO_KEEPALIVE 1, "
                       "TCP_USER_TIMEOUT 500",
                       "设置套接字选项，例如 SO_LINGER 1 0、TCP_NODELAY 1、SO_KEEPALIVE 1、"
                       "TCP_USER_TIMEOUT 500"),
    "sysctl": Help("sysctl [-a] [-w] NAME[=VALUE]",
                   "read or set one of minitcp's knobs by its Linux sysctl name (Linux's ranges apply)",
                   "按 Linux 的 sysctl 名字读取或设置 minitcp 的参数（取值范围与 Linux 相同）"),
    "drop": Help("drop next [in|out] [FLAGS]",
                 "the link loses the next segment (of that direction, carrying those flags, e.g. F)",
                 "链路丢掉下一个报文段（可限定方向和标志，例如 F）"),
    "delay": Help("delay next MS [in|out] [FLAGS]",
                  "the link holds the next segment back MS milliseconds",
                  "链路把下一个报文段推迟 MS 毫秒"),
    "peer": Help("peer listen PORT | connect PORT | accept P | send P TEXT | recv P [N] | shutdown P "
                 "| close P",
                 "the same calls on the peer's side (the kernel, or the second stack with --sim); its "
                 "sockets are p1, p2...",
                 "在对端（内核，或 --sim 时的第二个协议栈）做同样的调用；对端套接字名为 p1、p2……"),
    "ss": Help("ss", "both sides' sockets and their states, as `ss -tano` shows them",
               "两端的套接字及其状态，与 `ss -tano` 的显示一致"),
    "wait": Help("wait SECONDS",
                 "let time pass (with --sim, virtual time: a 60 s TIME_WAIT passes at once)",
                 "让时间流逝（--sim 时是虚拟时间：60 秒的 TIME_WAIT 一下就过去）"),
    "help": Help("help [COMMAND]", "list the commands, or say what one does",
                 "列出所有命令，或说明某个命令"),
    "quit": Help("quit", "leave the shell (Ctrl-D too)", "退出（也可按 Ctrl-D）"),
}


@dataclasses.dataclass(frozen=True)
class Messages:
    intro_sim: str
    intro_kernel: str
    no_tracepoints: str
    intro_step: str
    blocks: str
    unknown: str
    usage: str
    no_socket: str
    interrupt: str
    bye: str
    end_of_stream: str
    fault_added: str
    waited: str


EN = Messages(
    intro_sim="minitcp shell: minitcp at 198.18.0.2, its peer a second minitcp stack at 198.18.0.1 (--sim). "
              "`help` lists the commands.",
    intro_kernel="minitcp shell: minitcp at 198.18.0.2 on a TUN device in a private network namespace, its "
                 "peer the Linux kernel at 198.18.0.1. `help` lists the commands.",
    no_tracepoints="(no tracefs here: the kernel's state changes are not shown, only its packets)",
    intro_step="Time stands still until you `wait`.",
    blocks="{call} blocks; it goes on, and says when it returns{hint}",
    unknown="unknown command {name!r}: `help` lists them",
    usage="usage: {usage}",
    no_socket="no socket {name!r} (open: {open})",
    interrupt="(Ctrl-D or `quit` leaves the shell)",
    bye="bye",
    end_of_stream=" (end of stream: the other side sent its FIN)",
    fault_added="fault rule {rule}: the next segment that matches it is {done}",
    waited="(waited {seconds:g} s)",
)
ZH = Messages(
    intro_sim="minitcp shell：minitcp 在 198.18.0.2，对端是另一个 minitcp 协议栈，在 198.18.0.1（--sim）。"
              "输入 `help` 查看命令。",
    intro_kernel="minitcp shell：minitcp 在 198.18.0.2（私有网络命名空间里的 TUN 设备），对端是 Linux 内核，"
                 "在 198.18.0.1。输入 `help` 查看命令。",
    no_tracepoints="（这里没有 tracefs：看不到内核的状态变化，只能看到它的报文）",
    intro_step="时间静止，直到你输入 `wait`。",
    blocks="{call} 阻塞了；它继续等待，返回时会显示结果{hint}",
    unknown="没有命令 {name!r}：输入 `help` 查看命令",
    usage="用法：{usage}",
    no_socket="没有套接字 {name!r}（已打开：{open}）",
    interrupt="（按 Ctrl-D 或输入 `quit` 退出）",
    bye="再见",
    end_of_stream="（数据流结束：另一端发来了 FIN）",
    fault_added="故障规则 {rule}：下一个匹配的报文段将被{done}",
    waited="（等了 {seconds:g} 秒）",
)


# How `drop next` and `delay next` say what will happen, by action.
DONE = {"en": {"drop": "dropped", "delay": "delayed"}, "zh": {"drop": "丢弃", "delay": "推迟"}}


def messages(lang: str) -> Messages:
    return ZH if lang == "zh" else EN
