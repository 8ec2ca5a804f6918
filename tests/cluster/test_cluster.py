"""The scale-out topology for real: HAProxy running deploy/haproxy.cfg in front of three `roughcut serve`
processes on one PostgreSQL database and a private Redis. A WebSocket client and a long-polling client
chat in one room through the balancer while a node is killed, while Redis restarts and while a node drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import asyncpg
import pytest
import socketio
import yaml
from yarl import URL

from roughcut.config import Settings
from roughcut.loadtest import seed, tokens_for
from roughcut.storage import migrate
from roughcut.storage.db import make_engine
from tests.cluster.haproxy import (
    COOKIE,
    DEPLOY,
    DEPLOY_CFG,
    SERVED_BY,
    check,
    deployed_servers,
    haproxy_binary,
    local_config,
)
from tests.conftest import PG_ADMIN, PG_HOST
from tests.private_redis import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
NODES = ("node1", "node2", "node3")
START_TIMEOUT = 30.0  # three nodes importing at once on two shared cores
READY_POLL_SECONDS = 0.1
WAIT = 20.0  # a reconnect through the balancer and a catch-up, however the cores are loaded
ACK_TIMEOUT = 3.0  # a send whose ack does not come (its node died) is sent again with the same client_id
PER_PHASE = 10
RECONNECT_DELAY = 0.1  # like the library's first reconnection delay


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- the deploy files -------------------------------------------------------------------------------


def test_deploy_haproxy_config_is_valid(tmp_path: Path) -> None:
    binary = haproxy_binary()
    deployed = check(binary, DEPLOY_CFG)
    # Outside Compose the node names do not resolve (a warning); anything else would be an error.
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "Configuration file is valid" in deployed.stdout + deployed.stderr
    local = tmp_path / "haproxy.cfg"
    local.write_text(local_config(_free_port(), {name: _free_port() for name in NODES}))
    result = check(binary, local)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stderr and "[ALERT]" not in result.stderr, result.stderr


def test_compose_runs_what_the_balancer_names() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    nodes = sorted(name for name in services if name.startswith("node"))
    assert nodes == deployed_servers() == list(NODES)
    lb_address = services["lb"]["networks"]["default"]["ipv4_address"]
    # Only the balancer is trusted to name the client in X-Forwarded-For.
    assert compose["x-roughcut"]["environment"]["TRUSTED_PROXIES"] == lb_address
    for name in nodes:
        env = services[name]["environment"]
        assert env["S3_BUCKET"] and env["S3_ENDPOINT_URL"] == "${S3_ENDPOINT_URL:-http://minio:9000}"
        assert services[name]["depends_on"]["bucket"]["condition"] == "service_completed_successfully"
    # Every node's pool, and one more of its size (a worker, a migration), fit PostgreSQL's connections.
    pool = Settings.from_env({})
    per_node = pool.db_pool_size + pool.db_max_overflow
    command = services["postgres"]["command"]
    max_connections = int(command[command.index("-c") + 1].removeprefix("max_connections="))
    assert (len(nodes) + 1) * per_node <= max_connections


# --- the cluster ------------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    port: int
    proc: asyncio.subprocess.Process
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self) -> str:
        return f"--- {self.name} ({self.log})\n" + self.log.read_text(errors="replace")[-3000:]


async def _spawn(name: str, args: list[str], port: int, log: Path, env: dict[str, str]) -> Process:
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return Process(name, port, proc, log)


async def _wait_ready(http: aiohttp.ClientSession, process: Process) -> None:
    """Until /readyz answers 200 (observable only by asking), or the process exits."""
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            if process.proc.returncode is not None:
                raise AssertionError(f"{process.name} exited with {process.proc.returncode}\n{process.tail()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{process.url}/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(READY_POLL_SECONDS)


async def _wait_in_rotation(http: aiohttp.ClientSession, cluster: Cluster, name: str) -> None:
    """Until the balancer's health checks have taken the node in: a request pinned to it by the sticky
    cookie is answered there (HAProxy starts every server down until its first good check)."""
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            if cluster.balancer.proc.returncode is not None:
                raise AssertionError(f"haproxy exited with {cluster.balancer.proc.returncode}\n{cluster.logs()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{cluster.url}/readyz", headers={"Cookie": f"{COOKIE}={name}"}) as resp:
                    if resp.status == 200 and resp.headers.get(SERVED_BY) == name:
                        return
            await asyncio.sleep(READY_POLL_SECONDS)


async def _stop(process: Process) -> None:
    if process.proc.returncode is None:
        process.proc.kill()
    await process.proc.wait()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def cluster_db() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for the cluster (the loadtest seed wants it without users)."""
    name = f"roughcut_cluster_{uuid.uuid4().hex[:10]}"
    url = f"postgresql+asyncpg://{PG_HOST}/{name}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        engine = make_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        yield url
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Cluster:
    url: str
    nodes: dict[str, Process]
    balancer: Process
    room: dict[str, Any] = field(default_factory=dict)

    def logs(self) -> str:
        return "\n".join(p.tail() for p in [*self.nodes.values(), self.balancer])


@pytest.fixture
async def cluster(cluster_db: str, private_redis: PrivateRedis, tmp_path: Path) -> AsyncIterator[Cluster]:
    """HAProxy and three nodes (TRUSTED_PROXIES=127.0.0.1, the balancer's address here), all ready."""
    binary = haproxy_binary()
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, database_url=cluster_db)
    # The signing key is made here, in the data folder every node reads: all nodes verify these tokens.
    room = tokens_for(settings, await seed(settings, rooms=1, members=2), ttl=3600)["rooms"][0]
    lb_port, ports = _free_port(), {name: _free_port() for name in NODES}
    config = tmp_path / "haproxy.cfg"
    config.write_text(local_config(lb_port, ports))
    checked = check(binary, config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "S3_", "SMTP_"))}
    env = {
        **inherited,
        "DATABASE_URL": cluster_db,
        "REDIS_URL": private_redis.url,
        "REDIS_PREFIX": f"rccluster{uuid.uuid4().hex[:8]}",
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": secrets.token_hex(32),
        "PUBLIC_URL": f"http://127.0.0.1:{lb_port}",
        "TRUSTED_PROXIES": "127.0.0.1",
        "DEMO_USER": "false",
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "false",
        "CHAT_SEND_BURST": "1000",
        "CHAT_SEND_RATE": "1000",
        "SOCKET_EVENT_BURST": "1000",
        "SOCKET_EVENT_RATE": "1000",
        "DB_POOL_SIZE": "4",
        "DB_MAX_OVERFLOW": "4",
    }
    serve = [sys.executable, "-m", "roughcut", "serve", "--host", "127.0.0.1", "--port"]
    nodes = {
        name: await _spawn(name, [*serve, str(port)], port, tmp_path / f"{name}.log", env)
        for name, port in ports.items()
    }
    balancer = await _spawn("haproxy", [binary, "-db", "-f", str(config)], lb_port, tmp_path / "haproxy.log", env)
    running = Cluster(f"http://127.0.0.1:{lb_port}", nodes, balancer, room)
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(_wait_ready(http, node) for node in nodes.values()))
            await asyncio.gather(*(_wait_in_rotation(http, running, name) for name in NODES))
        yield running
    finally:
        await asyncio.gather(*(_stop(p) for p in [balancer, *nodes.values()]))
        print(running.logs())  # pytest shows it when the test fails


class Member:
    """A chat client that follows API.md: it keeps the room's messages in `seq` order, drops a seq it has,
    re-joins with `after_seq` on a gap, a `resync` or a reconnect, and retries a send with its client_id."""

    def __init__(self, name: str, cluster: Cluster, token: str, transports: list[str]) -> None:
        self.name, self.url, self.token, self.transports = name, cluster.url, token, transports
        self.fid: int = cluster.room["feedback_id"]
        # unsafe=True: aiohttp's default jar drops cookies set by an IP-address host such as 127.0.0.1,
        # and with them the balancer's sticky cookie.
        self.jar = aiohttp.CookieJar(unsafe=True)
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._answered)
        self.http = aiohttp.ClientSession(cookie_jar=self.jar, trace_configs=[trace])
        self.sio = socketio.AsyncClient(
            http_session=self.http, reconnection_delay=0.1, reconnection_delay_max=1, randomization_factor=0
        )
        self.sio.on("connect", self._connected, namespace="/chat")
        self.sio.on("disconnect", self._disconnected, namespace="/chat")
        self.sio.on("message", self._message, namespace="/chat")
        self.sio.on("resync", self._resync, namespace="/chat")
        self.log: list[dict[str, Any]] = []  # the room as this client shows it
        self.acked: dict[str, int] = {}  # client_id -> seq of what this client sent
        self.served: list[list[str]] = []  # per Engine.IO session: the node that answered each request
        self.connects = self.deliveries = self.duplicates = self.gaps = self.resyncs = self.retries = 0
        self.joined = asyncio.Event()
        self.reconnected = asyncio.Event()  # set at the second connect
        self._grew = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def last(self) -> int:
        return int(self.log[-1]["seq"]) if self.log else 0

    async def connect(self, pin: str | None = None) -> None:
        """Connect through the balancer; `pin` presets the sticky cookie, so the balancer picks that node."""
        if pin is not None:
            self.jar.update_cookies({COOKIE: pin}, URL(self.url))
        await self.sio.connect(
            self.url, auth={"token": self.token}, namespaces=["/chat"], transports=self.transports, wait_timeout=WAIT
        )
        await asyncio.wait_for(self.joined.wait(), WAIT)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        # python-engineio's client waits for its pending long-poll after sending CLOSE, and the server
        # answers that poll only at its ping timeout (30 s): send CLOSE, then drop the poll with the session.
        await self.sio.eio.disconnect(abort=True)
        await self.http.close()

    def cookie(self) -> str | None:
        return next((c.value for c in self.jar if c.key == COOKIE), None)

    def node(self) -> str:
        """The node of the current session: every request of it answered there, and the cookie names it."""
        served = self.served[-1]
        assert len(set(served)) == 1, f"{self.name}: one session answered by {served}"
        assert self.cookie() == served[0], f"{self.name}: cookie {self.cookie()}, answered by {served[0]}"
        return served[0]

    async def _answered(self, _: Any, __: SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
        if not params.url.path.startswith("/socket.io"):
            return
        if "sid" not in params.url.query:  # an Engine.IO handshake: a new session
            self.served.append([])
        self.served[-1].append(params.response.headers.get(SERVED_BY, "-"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connected(self) -> None:
        self.connects += 1
        if self.connects >= 2:
            self.reconnected.set()
        self._spawn(self._catch_up())  # not inline: the join's ack arrives through this same connection

    async def _disconnected(self, reason: str = "") -> None:
        self.joined.clear()
        if reason == socketio.AsyncClient.reason.SERVER_DISCONNECT:
            # A draining node closes every socket so that its clients reconnect elsewhere. The JS client
            # does; python-socketio takes a close from the server as final, so reconnect here.
            self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        async with asyncio.timeout(WAIT):
            while not self.sio.connected:
                try:
                    await self.sio.connect(
                        self.url, auth={"token": self.token}, namespaces=["/chat"], transports=self.transports
                    )
                except (socketio.exceptions.ConnectionError, ValueError):  # ValueError: still closing
                    await asyncio.sleep(RECONNECT_DELAY)

    async def _resync(self, data: dict[str, Any]) -> None:
        self.resyncs += 1
        await self._catch_up()

    async def _message(self, data: dict[str, Any]) -> None:
        self.deliveries += 1
        async with self._lock:
            if data["seq"] <= self.last:
                self.duplicates += 1
                return
            if data["seq"] == self.last + 1:
                self._take(data)
                return
            self.gaps += 1
        await self._catch_up()

    async def _catch_up(self) -> None:
        """join with after_seq: what this client missed, in order."""
        async with self._lock:
            payload: dict[str, Any] = {"feedback_id": self.fid}
            if self.last:
                payload["after_seq"] = self.last
            try:
                ack = await self.sio.call("join", payload, namespace="/chat", timeout=ACK_TIMEOUT)
            except socketio.exceptions.SocketIOError:
                return  # the connection went: the next connect catches up
            assert ack["ok"], ack
            assert not ack["data"]["truncated"]
            for message in ack["data"]["missed"]:
                if message["seq"] > self.last:
                    assert message["seq"] == self.last + 1, (self.last, message)
                    self._take(message)
            self.joined.set()

    def _take(self, message: dict[str, Any]) -> None:
        self.log.append(message)
        self._grew.set()

    async def send(self, text: str) -> int:
        """Send until acknowledged, with the same client_id every time; the stored message's seq."""
        client_id = str(uuid.uuid4())
        payload = {"feedback_id": self.fid, "client_id": client_id, "text": text}
        async with asyncio.timeout(WAIT):
            while True:
                await self.joined.wait()
                try:
                    ack = await self.sio.call("send", payload, namespace="/chat", timeout=ACK_TIMEOUT)
                except socketio.exceptions.SocketIOError:
                    self.retries += 1
                    await asyncio.sleep(0)  # let the disconnect, if that is what happened, be seen
                    continue
                assert ack["ok"], ack
                seq = int(ack["data"]["message"]["seq"])
                self.acked[client_id] = seq
                return seq

    async def send_many(self, count: int, tag: str) -> None:
        for n in range(count):
            await self.send(f"{self.name} {tag} {n}")

    async def wait_for_seq(self, seq: int) -> None:
        async with asyncio.timeout(WAIT):
            while self.last < seq:
                self._grew.clear()
                await self._grew.wait()

    def stats(self) -> str:
        return (
            f"{self.name}: {len(self.log)} messages, {self.deliveries} live deliveries, {self.duplicates} duplicates, "
            f"{self.gaps} gaps, {self.resyncs} resyncs, {self.connects} connects, {self.retries} send retries"
        )


async def _everyone_has_everything(members: list[Member]) -> int:
    """Every acknowledged message, stored once (gap-free seqs, one per client_id), is in each client's log
    exactly once and in seq order, as the message that was acknowledged."""
    acked = {cid: seq for m in members for cid, seq in m.acked.items()}
    total = len(acked)
    assert sorted(acked.values()) == list(range(1, total + 1))
    await asyncio.gather(*(m.wait_for_seq(total) for m in members))
    for m in members:
        assert [msg["seq"] for msg in m.log] == list(range(1, total + 1)), m.name
        assert {msg["client_id"]: msg["seq"] for msg in m.log} == acked, m.name
    return total


async def test_chat_through_the_balancer_survives_a_killed_node_and_a_redis_restart(
    cluster: Cluster, private_redis: PrivateRedis
) -> None:
    started = time.monotonic()
    tokens = [member["token"] for member in cluster.room["members"]]
    poller = Member("polling", cluster, tokens[0], ["polling"])
    ws = Member("websocket", cluster, tokens[1], ["websocket"])
    members = [poller, ws]
    try:
        # The balancer picks the polling client's node and sets the cookie; every poll goes back there.
        await poller.connect()
        home = poller.node()
        # The WebSocket client is sent to another node by its cookie, so the room spans two nodes.
        other = next(name for name in NODES if name != home)
        await ws.connect(pin=other)
        assert ws.node() == other and ws.sio.transport() == "websocket"

        await asyncio.gather(poller.send_many(PER_PHASE, "before"), ws.send_many(PER_PHASE, "before"))
        total = await _everyone_has_everything(members)
        assert poller.node() == home and len(poller.served[-1]) > 2 * PER_PHASE  # many polls, one node
        assert poller.sio.transport() == "polling" and poller.connects == 1

        # SIGKILL the polling client's node while both send: its cookie now names a dead node; the
        # balancer sends it elsewhere, it re-joins with after_seq and retries what was not acknowledged.
        victim = cluster.nodes[home]
        halfway = asyncio.Event()

        async def ws_sends() -> None:
            for n in range(2 * PER_PHASE):
                await ws.send(f"websocket during {n}")
                if n == PER_PHASE // 2:
                    halfway.set()

        async def kill_then_send() -> None:
            await halfway.wait()
            victim.proc.send_signal(signal.SIGKILL)
            await victim.proc.wait()
            await poller.send_many(PER_PHASE, "during")

        await asyncio.gather(ws_sends(), kill_then_send())
        total = await _everyone_has_everything(members)
        assert poller.connects >= 2, "the polling client never reconnected"
        moved = poller.node()
        assert moved != home and moved in NODES
        assert ws.node() == other and ws.connects == 1

        # Redis restarts empty (every node's links drop): both keep sending and end with everything.
        await private_redis.restart()
        await asyncio.gather(poller.send_many(PER_PHASE, "after"), ws.send_many(PER_PHASE, "after"))
        total = await _everyone_has_everything(members)
        assert total == 7 * PER_PHASE

        # A deploy drains the WebSocket client's node (SIGTERM): it closes its listener and tells its
        # clients to go; the balancer takes it out of rotation and the client's cookie no longer holds it.
        drained = cluster.nodes[other]
        drained.proc.send_signal(signal.SIGTERM)
        await asyncio.gather(poller.send_many(PER_PHASE, "drain"), ws.send_many(PER_PHASE, "drain"))
        # The drain runs while connections still work, so the sends may all land before the close does.
        await asyncio.wait_for(ws.reconnected.wait(), WAIT)
        await asyncio.wait_for(ws.joined.wait(), WAIT)
        assert ws.node() not in (other, home)
        await ws.send_many(PER_PHASE, "moved")
        total = await _everyone_has_everything(members)
        assert total == 10 * PER_PHASE
        assert await asyncio.wait_for(drained.proc.wait(), WAIT) in (0, -signal.SIGTERM)

        # What PostgreSQL holds: each acknowledged message once, read through the balancer.
        async with aiohttp.ClientSession(cluster.url) as http:
            headers = {"Authorization": f"Bearer {tokens[0]}"}
            async with http.get(f"/api/v1/feedback/{poller.fid}/messages?limit=200", headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                history = (await resp.json())["items"]
        assert [m["seq"] for m in history] == list(range(1, total + 1))
        assert {m["client_id"]: m["seq"] for m in history} == {**poller.acked, **ws.acked}
    finally:
        for member in members:
            print(member.stats())
        print(f"cluster test body: {time.monotonic() - started:.1f}s")
        await asyncio.gather(*(m.close() for m in members))
