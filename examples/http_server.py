"""An HTTP/1.1 server (h11) on minitcp: a page about the connection, and bytes to download.

Run it as root (it creates the TUN device mtcp0; the kernel side is 198.18.0.1/24):

    sudo python examples/http_server.py

then, from the kernel:

    curl http://198.18.0.2/                               # a page about the TCP connection it came over
    curl -o /dev/null http://198.18.0.2/bytes/100000000   # 100 MB, to see minitcp's throughput
    curl http://198.18.0.2/ http://198.18.0.2/bytes/10    # two requests, one connection (keep-alive)

Pass -v to see every packet as tcpdump would print it. Ctrl-C stops the
stack and removes the device. The server is minitcp.apps.HttpServer, the one
`minitcp up --http 80` runs.
"""

import trio

from minitcp.apps import HttpServer, example_parser, run_until_interrupted
from minitcp.link.tun import TunLink
from minitcp.stack import Stack
from minitcp.trace.tcpdump import printer


async def main(dev: str, port: int, verbose: bool) -> None:
    link = TunLink(dev)
    stack = Stack(link, "198.18.0.2", on_packet=printer() if verbose else None)
    server = HttpServer()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stack.run)
            await nursery.start(server.serve, stack, port)  # returns once the port listens
            where = "198.18.0.2" if port == 80 else f"198.18.0.2:{port}"
            print(f"HTTP server on {where}; try `curl http://{where}/`; Ctrl-C stops", flush=True)
    finally:
        link.close()
        print(f"stopped; served {server.requests} requests over {server.connections} connections")


if __name__ == "__main__":
    parser = example_parser(__doc__, port=80)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every packet")
    args = parser.parse_args()
    run_until_interrupted(main, args.dev, args.port, args.verbose)  # Ctrl-C ends it cleanly
