#!/usr/bin/env python3
"""A server that answers every HTTP/1.1 request at once with a fixed 200, without parsing more
than the blank line that ends the request's headers: the floor of a client and the machine it
runs on, against which registry_helper.py reads the helper's figures. Prints its port, then serves
on 127.0.0.1 until killed."""

from __future__ import annotations

import asyncio
import socket

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


class Answer(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:  # requests without a body, as the benchmark's GETs are
            self.buffer = self.buffer.split(b"\r\n\r\n", 1)[1]
            self.transport.write(ANSWER)


async def serve() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY, as the helper's
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    await asyncio.get_running_loop().create_server(Answer, sock=sock)
    print(sock.getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve())
