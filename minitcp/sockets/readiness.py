"""Readiness as Linux reports it: poll()'s event mask for a socket (net/ipv4/tcp.c tcp_poll),
an epoll-like waiter over many sockets (fs/eventpoll.c), and the queue sizes of ioctl
SIOCINQ / SIOCOUTQ / SIOCOUTQNSD (tcp_ioctl).
"""

from __future__ import annotations

import errno
import math
import select
from typing import TYPE_CHECKING

import trio

from ..tcp.seq import seq_diff
from ..tcp.states import State

if TYPE_CHECKING:
    from ..tcp.connection import Connection
    from .endpoint import Endpoint
    from .socket import Socket

POLLIN, POLLPRI, POLLOUT = select.POLLIN, select.POLLPRI, select.POLLOUT
POLLERR, POLLHUP, POLLNVAL = select.POLLERR, select.POLLHUP, select.POLLNVAL
POLLRDNORM, POLLWRNORM = select.POLLRDNORM, select.POLLWRNORM
POLLRDHUP = 0x2000  # include/uapi/asm-generic/poll.h (Python's select has it only on some builds)
EPOLLET = 1 << 31
EPOLLONESHOT = 1 << 30
_EPOLL_EVENTS = POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP | POLLRDNORM | POLLWRNORM | POLLRDHUP \
    | select.POLLRDBAND | select.POLLWRBAND
# linux/sockios.h: SIOCINQ is FIONREAD, SIOCOUTQ is TIOCOUTQ.
SIOCINQ = 0x541B
SIOCOUTQ = 0x5411
SIOCOUTQNSD = 0x894B
_OPENING = frozenset({State.SYN_SENT, State.SYN_RECEIVED})


def poll_mask(ep: Endpoint) -> int:
    """The events poll() reports for the socket (Linux tcp_poll, line by line)."""
    if ep.listener is not None:
        # inet_csk_listen_poll: readable when a connection waits to be accepted.
        return POLLIN | POLLRDNORM if ep.listener.accept_queue else 0
    conn = ep.conn
    if conn is None:
        # A socket that never connected: state CLOSE, no shutdown, room to write.
        return POLLOUT | POLLWRNORM | POLLHUP
    state = State.CLOSED if conn.state in (State.CLOSED, State.TIME_WAIT) else conn.state
    # sk_shutdown: RCV_SHUTDOWN by shutdown(SHUT_RD), the peer's FIN (tcp_fin) or the end of the
    # connection (tcp_done sets both); SEND_SHUTDOWN by shutdown(SHUT_WR), close, tcp_done.
    rcv_shut = conn.shut_rd or conn.rcv_fin_reached or state == State.CLOSED
    send_shut = conn.shut_wr or state == State.CLOSED
    mask = 0
    if (rcv_shut and send_shut) or state == State.CLOSED:
        mask |= POLLHUP
    if rcv_shut:
        mask |= POLLIN | POLLRDNORM | POLLRDHUP
    if state not in _OPENING:
        if conn.recv_queued:  # tcp_stream_is_readable with SO_RCVLOWAT 1
            mask |= POLLIN | POLLRDNORM
        if send_shut or stream_writeable(conn):
            mask |= POLLOUT | POLLWRNORM
    if conn.error:
        mask |= POLLERR
    return mask


def stream_writeable(conn: Connection) -> bool:
    """Linux __sk_stream_is_writeable(sk, wake=1) on sk_wmem_queued (tcp/wmem.py)."""
    from ..tcp import wmem

    return wmem.writeable(conn)


def ioctl_value(ep: Endpoint, request: int) -> int:
    """SIOCINQ, SIOCOUTQ, SIOCOUTQNSD as Linux's tcp_ioctl answers them."""
    if request not in (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD):
        raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")
    if ep.listener is not None:
        raise OSError(errno.EINVAL, "Invalid argument (listening socket)")
    conn = ep.conn
    if conn is None or conn.state in _OPENING:
        return 0
    if request == SIOCINQ:
        # rcv_nxt - copied_seq, less the FIN: the bytes a read would return.
        return conn.recv_queued
    # write_seq counts the FIN once it is queued (tcp_send_fin), until it is acknowledged.
    write_seq = conn.sndbuf_seq + conn.send_queued + (1 if conn.fin_queued else 0)
    if conn.fin_queued and seq_diff(conn.snd_una, conn.fin_seq) > 0:
        return 0  # everything, FIN included, acknowledged
    start = conn.snd_una if request == SIOCOUTQ else conn.snd_nxt
    return max(seq_diff(write_seq, start), 0)


class Epoll:
    """An epoll instance: sockets registered with event masks, waited on in Trio.

    Level-triggered by default: wait() reports every socket whose mask meets its events.
    EPOLLET reports a socket only after a wake-up of it since the last report (Linux
    ep_poll_callback queues the item on each wake-up), EPOLLONESHOT disables it after one.
    """

    def __init__(self) -> None:
        # Socket -> [events, pending wake-up, still armed]
        self._items: dict[Socket, list[int]] = {}
        self._changed = trio.Event()

    def register(self, sock: Socket, events: int) -> None:
        """EPOLL_CTL_ADD (EEXIST if already registered)."""
        if sock in self._items:
            raise OSError(errno.EEXIST, "File exists")
        self._check(events)
        ep = sock._live()
        self._items[sock] = [events, 1, 1]
        ep.add_watcher(self._on_wake)

    def modify(self, sock: Socket, events: int) -> None:
        """EPOLL_CTL_MOD: new events, re-armed, looked at again (ep_modify)."""
        item = self._items.get(sock)
        if item is None:
            raise OSError(errno.ENOENT, "No such file or directory")
        self._check(events)
        item[:] = [events, 1, 1]
        self._changed.set()

    def unregister(self, sock: Socket) -> None:
        """EPOLL_CTL_DEL."""
        if self._items.pop(sock, None) is None:
            raise OSError(errno.ENOENT, "No such file or directory")
        sock._ep.remove_watcher(self._on_wake)

    @staticmethod
    def _check(events: int) -> None:
        if events & ~(_EPOLL_EVENTS | EPOLLET | EPOLLONESHOT):
            raise OSError(errno.EINVAL, "Invalid argument (epoll flag not supported by minitcp)")

    def _on_wake(self, ep: Endpoint) -> None:
        for sock, item in self._items.items():
            if sock._ep is ep:
                item[1] = 1
        self._changed.set()

    def ready(self) -> list[tuple[Socket, int]]:
        """What epoll_wait would return now, without waiting (marks ET and ONESHOT items)."""
        out = []
        for sock, item in list(self._items.items()):
            if sock._closed:
                # Closing the file takes it out of every epoll set (Linux eventpoll_release).
                self.unregister(sock)
                continue
            events, pending, armed = item
            if not armed or (events & EPOLLET and not pending):
                continue
            # POLLERR and POLLHUP are always reported (ep_item_poll ORs them into the mask).
            mask = poll_mask(sock._ep) & (events | POLLERR | POLLHUP)
            item[1] = 0
            if mask:
                if events & EPOLLONESHOT:
                    item[2] = 0
                out.append((sock, mask))
        return out

    async def wait(self, timeout: float = -1, maxevents: int = 64) -> list[tuple[Socket, int]]:
        """epoll_wait: block until some socket is ready or `timeout` seconds pass (-1: forever;
        0: look once). Returns up to `maxevents` (socket, events) pairs."""
        if maxevents <= 0:
            raise OSError(errno.EINVAL, "Invalid argument (maxevents)")
        deadline = math.inf if timeout < 0 else trio.current_time() + timeout
        while True:
            self._changed = trio.Event()
            ready = self.ready()
            if ready or trio.current_time() >= deadline:
                await trio.lowlevel.checkpoint()
                return ready[:maxevents]
            with trio.move_on_at(deadline):
                await self._changed.wait()

    def close(self) -> None:
        for sock in list(self._items):
            self.unregister(sock)

