"""Helpers shared by the tests that drive minitcp from kernel clients over TUN (the fixtures are
in tests/tun/conftest.py)."""

from __future__ import annotations

import hashlib
import http.client


def http_download_sha(n: int, host: str = "198.18.0.2") -> tuple[int, str]:
    """GET /bytes/n from the stack's HTTP server with the kernel's HTTP client (run it in a
    thread): the size received and its SHA-256."""
    conn = http.client.HTTPConnection(host, 80, timeout=20)
    try:
        conn.request("GET", f"/bytes/{n}")
        response = conn.getresponse()
        assert response.status == 200
        hasher, size = hashlib.sha256(), 0
        while chunk := response.read(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
        return size, hasher.hexdigest()
    finally:
        conn.close()
