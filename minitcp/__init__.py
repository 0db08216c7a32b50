"""minitcp: a userspace TCP/IP stack on a Linux TUN device, built for watching TCP work."""

__version__ = "0.1.0"
