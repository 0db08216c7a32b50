"""The socket API (reference-counted handles, Linux close/shutdown) and its Trio adapters."""

from .socket import MSG_DONTWAIT, MSG_PEEK, SHUT_RD, SHUT_RDWR, SHUT_WR, Socket

__all__ = ["MSG_DONTWAIT", "MSG_PEEK", "SHUT_RD", "SHUT_RDWR", "SHUT_WR", "Socket"]
