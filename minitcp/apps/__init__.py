"""Servers that run on minitcp: echo (port 7), discard (port 9) and HTTP (port 80).

The CLI (`minitcp up --echo 7 --http 80`), the demo, the examples and the
tests all use these. Each server is an `AppServer`: start one with
`await nursery.start(server.serve, stack, port)`, which returns once it listens.
"""

from __future__ import annotations

from .base import AppServer, example_parser, run_until_interrupted
from .discard import DiscardServer, Received
from .echo import EchoServer
from .http import Download, HttpServer, fetch, pattern_bytes, pattern_chunks, pattern_sha256

__all__ = [
    "AppServer",
    "DiscardServer",
    "Download",
    "EchoServer",
    "HttpServer",
    "Received",
    "example_parser",
    "fetch",
    "pattern_bytes",
    "pattern_chunks",
    "pattern_sha256",
    "run_until_interrupted",
]
