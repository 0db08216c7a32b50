"""minitcp as an HTTP client: an active open to a server the kernel runs, and a download.

Run it as root (it creates the TUN device mtcp0; the kernel side is 198.18.0.1/24):

    sudo python examples/http_client.py http://198.18.0.1:8000/README.md

The address 198.18.0.1 exists only while the device does, so start the
kernel's server once this script says it is waiting, in another terminal:

    python3 -m http.server --bind 198.18.0.1 8000

Until then each connect() fails with ECONNREFUSED (the kernel answers our SYN
with a reset) and the script tries again every second. When the download is
done it prints the size, the time and the SHA-256; compare with
`sha256sum README.md`.
"""

import errno
import urllib.parse

import trio

from minitcp.apps import example_parser, fetch, run_until_interrupted
from minitcp.link.tun import TunLink
from minitcp.stack import Stack


async def main(dev: str, url: str, wait: float) -> int:
    parts = urllib.parse.urlsplit(url)
    host, port, path = parts.hostname or "198.18.0.1", parts.port or 80, parts.path or "/"
    link = TunLink(dev)
    stack = Stack(link, "198.18.0.2")
    got = None
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stack.run)
            with trio.move_on_after(wait):
                while True:
                    try:
                        got = await fetch(stack, host, port, path)
                        break
                    except OSError as e:
                        if e.errno != errno.ECONNREFUSED:
                            raise
                        print(f"connect to {host}:{port}: ECONNREFUSED; waiting for "
                              f"`python3 -m http.server --bind {host} {port}`", flush=True)
                        await trio.sleep(1)
            nursery.cancel_scope.cancel()
    finally:
        link.close()
    if got is None:
        print(f"gave up after {wait:.0f} s: nothing listens on {host}:{port}")
        return 1
    print(f"HTTP {got.status}: {got.nbytes:,} bytes in {got.seconds:.3f} s ({got.mb_per_s:.1f} MB/s)")
    print(f"SHA-256 {got.sha256}")
    return 0 if 200 <= got.status < 300 else 1


if __name__ == "__main__":
    parser = example_parser(__doc__)
    parser.add_argument("url", nargs="?", default="http://198.18.0.1:8000/", help="what to download")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for the server (default: 60)")
    args = parser.parse_args()
    raise SystemExit(run_until_interrupted(main, args.dev, args.url, args.wait))  # None (0) on Ctrl-C
