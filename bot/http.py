"""One aiohttp session per event loop, for the platforms' API clients: a session keeps its
connections (a new TCP and TLS handshake per call otherwise), and is bound to the loop it was
made on (tests and the CLI run several loops in turn)."""
from __future__ import annotations

import asyncio
from typing import Callable

import aiohttp


class PerLoop:
    def __init__(self, make: Callable[[], aiohttp.ClientSession]):
        self.make = make
        self.session: aiohttp.ClientSession | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def here(self) -> aiohttp.ClientSession:
        """The running loop's session, made on first use (again once closed)."""
        loop = asyncio.get_running_loop()
        if self.loop is not loop or self.session is None or self.session.closed:
            self.loop, self.session = loop, self.make()
        return self.session

    async def close(self) -> None:
        """Close the session if it is this loop's (another loop's cannot be awaited here)."""
        session, loop, self.session, self.loop = self.session, self.loop, None, None
        if session is not None and not session.closed and loop is asyncio.get_running_loop():
            await session.close()
