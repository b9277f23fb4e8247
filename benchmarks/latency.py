"""
A network with a round-trip time, for the benchmarks: a TCP relay per host that
holds every chunk for half the RTT in each direction, in order, as a link with
that propagation delay would (no bandwidth limit, no loss).

On loopback a remote command costs almost nothing but the host's own work, so
a deploy that runs 15 commands where another runs 1 loses little; from a laptop
to a data centre each command costs round trips (channel open, exec, exit
status). The kernel's netem would do this, but it is not available everywhere
(containers), and this needs nothing but Python.

    with DelayedLinks(rtt_ms=40) as links:
        port = links.add(("127.0.0.1", 2222))   # connect to 127.0.0.1:port instead
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque

CHUNK = 65536


class DelayedLinks:
    """Relays on 127.0.0.1, one per target, run by an event loop in a background thread."""

    def __init__(self, rtt_ms: float):
        self.one_way = rtt_ms / 2000
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="delayed-links", daemon=True)
        self.servers: list[asyncio.AbstractServer] = []

    def __enter__(self) -> "DelayedLinks":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        async def close():
            for server in self.servers:
                server.close()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def add(self, target: tuple[str, int]) -> int:
        """Start a relay to ``target``; returns the local port to connect to instead."""

        async def start() -> int:
            server = await asyncio.start_server(
                lambda r, w: self._relay(r, w, target), "127.0.0.1", 0, reuse_address=True,
            )
            self.servers.append(server)
            return server.sockets[0].getsockname()[1]

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    async def _relay(self, client_r, client_w, target) -> None:
        await asyncio.sleep(self.one_way)  # the SYN's trip; the SYN-ACK's is the upstream connect's
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        await asyncio.sleep(self.one_way)
        await asyncio.gather(self._pump(client_r, server_w), self._pump(server_r, client_w))
        for writer in (client_w, server_w):
            writer.close()

    async def _pump(self, reader, writer) -> None:
        """Copy reader to writer, each chunk delivered one-way-delay after it arrived."""

        queue: deque[tuple[float, bytes]] = deque()
        arrived = asyncio.Event()

        async def deliver():
            while True:
                while not queue:
                    arrived.clear()
                    await arrived.wait()
                due, data = queue.popleft()
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not data:  # end of stream, after the data before it
                    break
                writer.write(data)
                await writer.drain()
            try:
                writer.write_eof()
            except (OSError, RuntimeError):
                writer.close()

        delivery = asyncio.ensure_future(deliver())
        try:
            while True:
                try:
                    data = await reader.read(CHUNK)
                except OSError:  # reset: pass it on as an end of stream
                    data = b""
                queue.append((time.monotonic() + self.one_way, data))
                arrived.set()
                if not data:
                    break
            await delivery
        except OSError:
            delivery.cancel()
            writer.close()
