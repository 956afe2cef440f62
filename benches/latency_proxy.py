#!/usr/bin/env python3
"""A TCP proxy on loopback that adds a network's latency to each HTTP request.

    benches/latency_proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS

Every connection to 127.0.0.1:LISTEN_PORT is forwarded to 127.0.0.1:UPSTREAM_PORT.
A request is the client's bytes that follow the server's answer (or the opening of
the connection): the first chunk of each is held DELAY_MS before it is sent on, so
each request/response round trip costs DELAY_MS more, as it does on a network
(MinIO on a LAN ~1 ms, S3 from a nearby VM 10-30 ms). The bytes themselves are not
touched. Standard library only, so benches need nothing installed.
"""

import asyncio
import sys


async def pipe(reader, writer, on_chunk):
    try:
        while True:
            chunk = await reader.read(1 << 16)
            if not chunk:
                break
            await on_chunk()
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def serve(upstream_port, delay):
    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(
                "127.0.0.1", upstream_port
            )
        except OSError:
            client_writer.close()
            return
        # Whether the server spoke last: the client's next bytes open a request.
        state = {"answered": True}

        async def request_chunk():
            if state["answered"]:
                state["answered"] = False
                await asyncio.sleep(delay)

        async def response_chunk():
            state["answered"] = True

        await asyncio.gather(
            pipe(client_reader, server_writer, request_chunk),
            pipe(server_reader, client_writer, response_chunk),
        )

    return handle


async def main():
    listen_port, upstream_port, delay_ms = (int(a) for a in sys.argv[1:4])
    handle = await serve(upstream_port, delay_ms / 1000.0)
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
