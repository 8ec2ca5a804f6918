"""A redis-server of one test's own, on a free port, that the test may stop and restart.

The shared Redis (TEST_REDIS_URL) serves every test run on the machine, so no test may restart it;
tests of Redis outages use one of these instead (the `private_redis` fixture in conftest.py).
"""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

REDIS_SERVER = "redis-server"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
READY_POLL_SECONDS = 0.02


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateRedis:
    """One redis-server process without persistence: a restart starts it empty, like a lost instance."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self._workdir = workdir
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start the server on its port and wait until it answers PING."""
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--dir", str(self._workdir), "--logfile", str(self._workdir / "redis.log")),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await self._wait_ready()

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM: a clean shutdown such as a restart; SIGKILL: a crash) and wait for it."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(sig)
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)

    async def restart(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop, then start again on the same port: every client connection is cut and all data is gone."""
        await self.stop(sig)
        await self.start()

    async def _wait_ready(self) -> None:
        client = Redis.from_url(self.url, socket_connect_timeout=1)  # from_url: no retries of its own
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while True:
                    if self._process is not None and self._process.returncode is not None:
                        raise RuntimeError(f"redis-server exited with {self._process.returncode}")
                    try:
                        if await client.ping():
                            return
                    except (RedisError, OSError):
                        pass
                    # The server's readiness is observable only by asking it: poll, within START_TIMEOUT.
                    await asyncio.sleep(READY_POLL_SECONDS)
        finally:
            await client.aclose()
