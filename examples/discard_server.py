"""A discard server (RFC 863) on minitcp, written with the BSD-style socket API.

Run it as root (it creates the TUN device mtcp0; the kernel side is 198.18.0.1/24):

    sudo python examples/discard_server.py

and send it something from the kernel, e.g. 100 MB:

    head -c 100000000 /dev/zero | nc -N 198.18.0.2 9

For each connection it prints how many bytes arrived and how fast. The calls
are those of Python's `socket` module, made async: socket, bind, listen,
accept, recv, close. Ctrl-C stops the stack and removes the device.
"""

import time

import trio

from minitcp.apps import example_parser, run_until_interrupted
from minitcp.link.tun import TunLink
from minitcp.sockets import Socket
from minitcp.stack import Stack


async def discard(conn: Socket, peer: tuple[str, int]) -> None:
    start, total = time.monotonic(), 0
    try:
        while data := await conn.recv(262144):  # b"" is the client's FIN
            total += len(data)
    except OSError as e:  # ECONNRESET: the client reset the connection
        print(f"{peer[0]}:{peer[1]}: {e}")
    finally:
        conn.close()
    seconds = time.monotonic() - start
    print(f"{peer[0]}:{peer[1]}: discarded {total:,} bytes in {seconds:.2f} s "
          f"({total / max(seconds, 1e-9) / 1e6:.1f} MB/s)", flush=True)


async def main(dev: str, port: int) -> None:
    link = TunLink(dev)
    stack = Stack(link, "198.18.0.2")
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stack.run)
            sock = Socket(stack)
            sock.bind(("", port))
            sock.listen(128)
            print(f"discard server on 198.18.0.2:{port}; try "
                  f"`head -c 100000000 /dev/zero | nc -N 198.18.0.2 {port}`; Ctrl-C stops", flush=True)
            while True:
                conn, peer = await sock.accept()
                nursery.start_soon(discard, conn, peer)
    finally:
        link.close()
        print("stopped; device removed")


if __name__ == "__main__":
    parser = example_parser(__doc__, port=9)
    args = parser.parse_args()
    run_until_interrupted(main, args.dev, args.port)  # Ctrl-C ends it cleanly
