"""Run an ASGI app on 127.0.0.1 in a background thread, for end-to-end tests."""
from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """uvicorn serving `asgi` on its own loop in a thread; `.url`, `.loop`, `.stop()`."""

    def __init__(self, asgi, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Idle connections are kept longer than clients keep them (httpx: 5 s), as the real
        # APIs do: else a client may reuse one the server is closing that instant (ReadError).
        self.server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off",
                                                    timeout_keep_alive=30))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        for _ in range(500):  # bounded wait for the socket, no timing assertion
            if self.server.started:
                return
            time.sleep(0.01)
        raise RuntimeError("server did not start")

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def call(self, coro, timeout: float = 30):
        """Run a coroutine on the server's loop (where its clients live) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_for(predicate, what: str, tries: int = 500):
    """Poll until predicate() is truthy (bounded); return its value."""
    for _ in range(tries):
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")
