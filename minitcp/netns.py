"""Private network namespaces, so tests and the demo never touch the host's interfaces.

A process moved into a fresh network namespace sees only its own `lo` (down
until we raise it) plus whatever devices it creates, such as the TUN device of
a `TunLink`. Children started afterwards (ping, curl, `minitcp up`) inherit it.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

# <sched.h>
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

# <linux/sockios.h>, <net/if.h>
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


class NetnsError(OSError):
    """A private network namespace could not be had."""


def _net_ns_id(pid: str) -> tuple[int, int]:
    st = os.stat(f"/proc/{pid}/ns/net")
    return st.st_dev, st.st_ino


def in_private_netns() -> bool:
    """True when this process's network namespace differs from that of PID 1 (the host's).

    If PID 1's namespace cannot be read (an unprivileged user may not), we
    cannot prove we are isolated, so the answer is False.
    """
    try:
        return _net_ns_id("self") != _net_ns_id("1")
    except OSError:
        return False


def _unshare(flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(ctypes.c_int(flags)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _become_root_in_user_ns(uid: int, gid: int) -> None:
    # user_namespaces(7): setgroups must be denied before an unprivileged
    # process may write gid_map.
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"0 {uid} 1")
    _write("/proc/self/gid_map", f"0 {gid} 1")


def bring_lo_up() -> None:
    """`ip link set lo up` in this process's namespace (a fresh one has `lo` down, so 127.0.0.1
    cannot even be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # struct ifreq: a 16-byte name, then a 24-byte union whose first member is the flags.
        reply = fcntl.ioctl(s, _SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack_from("16xH", reply)[0]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def enter_private_netns() -> None:
    """Move this process into a new, empty network namespace, with `lo` up.

    As root, `unshare(CLONE_NEWNET)`; otherwise (or if root lacks
    CAP_SYS_ADMIN, as in some containers) a new user namespace as well, in
    which we map ourselves to root so we may create devices. The process must
    be single-threaded: a network namespace belongs to one thread, and the
    kernel refuses a new user namespace to a threaded process.
    """
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise NetnsError(f"cannot enter a private network namespace: process has {threads} threads")
    uid, gid = os.geteuid(), os.getegid()
    attempts = [CLONE_NEWNET, CLONE_NEWUSER | CLONE_NEWNET] if uid == 0 else [CLONE_NEWUSER | CLONE_NEWNET]
    failures = []
    for flags in attempts:
        try:
            _unshare(flags)
        except OSError as e:
            what = "unshare(CLONE_NEWNET)" if flags == CLONE_NEWNET else "unshare(CLONE_NEWUSER|CLONE_NEWNET)"
            failures.append(f"{what}: {e.strerror}")
            continue
        try:
            if flags & CLONE_NEWUSER:
                _become_root_in_user_ns(uid, gid)
            bring_lo_up()
        except OSError as e:
            raise NetnsError(f"entered a new network namespace but could not set it up: {e}") from e
        return
    raise NetnsError("cannot create a private network namespace: " + "; ".join(failures))
