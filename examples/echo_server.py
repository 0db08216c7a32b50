"""An echo server (RFC 862) on minitcp: every byte you send comes back.

Run it as root (it creates the TUN device mtcp0; the kernel side is 198.18.0.1/24):

    sudo python examples/echo_server.py

and in another terminal talk to it with the kernel's own TCP:

    nc 198.18.0.2 7              # type a line: it comes back; Ctrl-D half-closes, and the server closes too
    ss -tan | grep 198.18.0.2    # the kernel's end of each connection

Ctrl-C stops the stack and removes the device. The server is written here on
minitcp's Trio adapters, the same API as trio's own sockets; the reusable
version is minitcp.apps.EchoServer (`minitcp up --echo 7`).
"""

import trio

from minitcp.apps import example_parser, run_until_interrupted
from minitcp.link.tun import TunLink
from minitcp.sockets.streams import SocketStream, open_tcp_listener
from minitcp.stack import Stack


async def echo(stream: SocketStream) -> None:
    peer = stream.socket.getpeername()
    print(f"{peer[0]}:{peer[1]} connected")
    try:
        async for data in stream:  # receive_some() until the client's FIN
            await stream.send_all(data)
    except trio.BrokenResourceError:
        print(f"{peer[0]}:{peer[1]} reset the connection")
        return
    print(f"{peer[0]}:{peer[1]} finished sending; closing our side too")
    await stream.aclose()  # our FIN


async def main(dev: str, port: int) -> None:
    link = TunLink(dev)  # the kernel side gets 198.18.0.1/24
    stack = Stack(link, "198.18.0.2")
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stack.run)
            listener = open_tcp_listener(stack, port)
            print(f"echo server on 198.18.0.2:{port}; try `nc 198.18.0.2 {port}`; Ctrl-C stops", flush=True)
            await trio.serve_listeners(echo, [listener])
    finally:
        link.close()
        print("stopped; device removed")


if __name__ == "__main__":
    parser = example_parser(__doc__, port=7)
    args = parser.parse_args()
    run_until_interrupted(main, args.dev, args.port)  # Ctrl-C ends it cleanly
