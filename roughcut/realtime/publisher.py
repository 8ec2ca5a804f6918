"""The one publisher: committed batches (project events and chat messages) to this node and all others.

`publish` is what every unit of work and the chat group commit call after commit. It routes the batch
(a pure translation, see dispatch.py), applies it on this node at once, and sends it to the other
nodes as one broker message, which each of them applies the same way: emits to the rooms the storing
transaction chose, rooms closed after a member left, sockets of ended sessions dropped, SSE streams
woken. It queries nothing (but the reorder buffers read a gap they waited for in vain, ordering.py).

Nothing is lost silently (recovery.py): a batch the broker refused is remembered by the rooms it
touched and the other nodes are told to resync them once Redis is back; a node whose subscription
dropped tells all its own rooms to resync.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import suppress
from typing import Any

import socketio

from roughcut.domain.chat import Chat, between
from roughcut.domain.events import UPLOAD_PROGRESS, Committed
from roughcut.domain.ports import Broker
from roughcut.domain.projects import Projects, events_between
from roughcut.metrics import BROKER_RECEIVED, BROKER_RECEIVED_BYTES
from roughcut.realtime.dispatch import Close, Dispatch, Emit, decode, encode, route
from roughcut.realtime.fanout import DirectEmit
from roughcut.realtime.notifier import Notifier
from roughcut.realtime.ordering import CHAT, PROJECT, SeqOrder
from roughcut.realtime.recovery import RESYNC, Lost, decode_notice, encode_notice, is_notice, rooms_by_id
from roughcut.realtime.rooms import CHAT_NAMESPACE, PROJECTS_NAMESPACE, member_of, session_room
from roughcut.realtime.routing import Routes, split
from roughcut.realtime.server import NAMESPACE_PATHS
from roughcut.security.access import RevokedSessions

log = logging.getLogger(__name__)

NOTICE_RETRY_MIN_SECONDS = 0.25  # first wait before publishing the resync notice again while Redis is down
NOTICE_RETRY_MAX_SECONDS = 1.0  # cheap (one PUBLISH in the background): batches wait on it
ROOM_KINDS = {CHAT_NAMESPACE: ("chat", "feedback_id"), PROJECTS_NAMESPACE: ("project", "project_id")}


class NodeDelivery:
    """Applies a dispatch to this node's sockets, revocation list and SSE streams (no cross-node I/O)."""

    def __init__(
        self, sio: socketio.AsyncServer, notifier: Notifier, revoked: RevokedSessions, chat_news: Notifier | None = None
    ) -> None:
        """`chat_news` wakes this node's readers of chat threads' logs (the old chat socket), by feedback id."""
        self._sio = sio
        self._notifier = notifier
        self._chat_news = chat_news or Notifier()
        self._revoked = revoked
        self._disconnects: set[asyncio.Task[None]] = set()  # the loop keeps only weak references
        self.chat_order = SeqOrder(CHAT, self._emit, self._here)
        self.project_order = SeqOrder(PROJECT, self._emit, self._pinned)

    def attach(self, chat: Chat, projects: Projects) -> None:
        """Let the reorder buffers read gaps through the use cases and resync rooms they cannot fill."""

        async def messages(feedback_id: int, after_seq: int, before_seq: int) -> list[dict[str, Any]]:
            return [m.wire() for m in await between(chat, feedback_id, after_seq, before_seq)]

        async def events(project_id: int, after_seq: int, before_seq: int) -> list[dict[str, Any]]:
            return [e.as_dict() for e in await events_between(projects, project_id, after_seq, before_seq)]

        async def resync_project(project_id: int) -> None:
            await self.resync([], [project_id])

        self.chat_order.attach(messages, self.resync_room)
        self.project_order.attach(events, resync_project)

    async def apply(self, dispatch: Dispatch) -> None:
        """Emit and close rooms in order, then end sessions and wake the projects' streams."""
        manager = self._sio.manager
        with manager.batch():  # one write per socket for the whole batch (realtime/fanout.py)
            await self._apply_steps(dispatch)
        if dispatch.ended_sessions:
            self.end_sessions(dispatch.ended_sessions)
        self._notifier.wake(dispatch.projects)

    async def _apply_steps(self, dispatch: Dispatch) -> None:
        manager = self._sio.manager
        for step in dispatch.steps:
            if isinstance(step, Emit):
                if step.namespace == CHAT_NAMESPACE and step.event == "message":
                    self._chat_news.wake([int(step.payload["feedback_id"])])  # they read the log: order is theirs
                    await self.chat_order.put(step)  # in seq order per room, see ordering.py
                elif step.namespace == PROJECTS_NAMESPACE and step.event == "event":
                    await self.project_order.put(step)  # in seq order per project, see ordering.py
                elif step.namespace == PROJECTS_NAMESPACE and step.event == UPLOAD_PROGRESS:
                    users = [u for u in map(member_of, step.rooms) if u is not None]
                    self._notifier.live(int(step.payload["project_id"]), step.event, step.payload, users)
                    await self._emit(step)
                else:
                    await self._emit(step)
            elif isinstance(step, Close):
                for room in step.rooms:
                    manager.basic_close_room(room, step.namespace)  # this node only: every node applies it

    async def _emit(self, step: Emit) -> None:
        manager = self._sio.manager
        await DirectEmit.emit(manager, step.event, step.payload, step.namespace, to=step.rooms, skip_sid=step.skip)

    def _here(self, emit: Emit) -> Emit | None:
        # `manager.rooms[namespace]` holds only rooms with sockets (pinned in tests/unit/test_room_internals.py).
        here = self._sio.manager.rooms.get(emit.namespace, {})
        return emit if any(room in here for room in emit.rooms) else None

    def _pinned(self, emit: Emit) -> Emit | None:
        # Each socket is also in the room named by its sid (pinned in tests/unit/test_room_internals.py).
        sids = [sid for sid, _eio_sid in self._sio.manager.get_participants(emit.namespace, emit.rooms)]
        return Emit(emit.namespace, emit.event, emit.payload, sids) if sids else None

    def end_sessions(self, session_ids: Collection[int]) -> None:
        """Refuse the sessions' tokens on this node and drop their sockets."""
        self._revoked.add(list(session_ids))
        self.drop_sessions(list(session_ids))

    def drop_sessions(self, session_ids: Sequence[int]) -> None:
        """Disconnect this node's sockets of ended sessions, in every namespace."""
        loop = asyncio.get_running_loop()
        for namespace in NAMESPACE_PATHS:
            for session_id in session_ids:
                for sid, _eio_sid in list(self._sio.manager.get_participants(namespace, session_room(session_id))):
                    task = loop.create_task(self._sio.disconnect(sid, namespace=namespace, ignore_queue=True))
                    self._disconnects.add(task)
                    task.add_done_callback(self._disconnects.discard)

    async def resync(self, chat: Collection[int] | None, projects: Collection[int] | None) -> None:
        """Tell this node's sockets in these chat threads and projects (None: in all) to `resync`."""
        self.chat_order.resyncing(chat)
        if chat is None:
            self._chat_news.wake_all()
        else:
            self._chat_news.wake(chat)
        for namespace, ids in ((CHAT_NAMESPACE, chat), (PROJECTS_NAMESPACE, projects)):
            if ids is not None and not ids:
                continue
            kind, key = ROOM_KINDS[namespace]
            local = rooms_by_id(list(self._sio.manager.rooms.get(namespace, {})), kind, ids)
            for some_id, rooms in local.items():
                await self._emit(Emit(namespace, RESYNC, {key: some_id}, rooms))
        if projects is None:
            self._notifier.wake_all()
        else:
            self._notifier.wake(projects)

    async def resync_room(self, feedback_id: int) -> None:
        """One chat thread's sockets resync (a gap the reorder buffer could not fill)."""
        await self.resync([feedback_id], [])

    def caught_up(self) -> None:
        """After a gap in the broker: every local socket resyncs and streams re-read their logs."""
        task = asyncio.get_running_loop().create_task(self.resync(None, None))
        self._disconnects.add(task)
        task.add_done_callback(self._disconnects.discard)

    async def close(self) -> None:
        """Node shutdown: stop the reorder buffer's timers."""
        await self.chat_order.close()
        await self.project_order.close()


class Publisher:
    """The EventPublisher port: one broker message per committed batch and topic, for every consumer on the
    nodes that need it."""

    def __init__(
        self,
        node: NodeDelivery,
        broker: Broker,
        routes: Routes | None = None,
        invalidate: Callable[[Sequence[Committed]], Awaitable[None]] | None = None,
    ) -> None:
        """With `routes`, each topic's part of a batch goes only to the nodes attending it (routing.py);
        without, every node receives every batch. `invalidate` runs first on each batch (the response
        cache, shared by every node: domain/read_cache.py), so the writer's answer, sent after publish,
        and every node's next read see the change."""
        self.node_id = uuid.uuid4().hex
        self._invalidate = invalidate
        self.node = node
        self._broker = broker
        self._routes = routes
        self.received = 0  # broker messages this node decoded (other nodes' and its own)
        self._lost = Lost()
        self._notice: asyncio.Task[None] | None = None
        self._wake_notice = asyncio.Event()

    async def start(self) -> None:
        """Listen to the other nodes."""
        await self._broker.start(self.receive, self._resubscribed)
        if self._routes is not None:
            self._routes.start()

    @property
    def routes(self) -> Routes | None:
        """The topics this node attends (None: it hears every batch)."""
        return self._routes

    async def stop(self) -> None:
        """Stop listening."""
        notice, self._notice = self._notice, None
        if notice is not None:
            notice.cancel()
            await asyncio.gather(notice, return_exceptions=True)
        if self._routes is not None:
            await self._routes.stop()
        await self._broker.stop()
        await self.node.close()

    async def publish(self, batch: Sequence[Committed]) -> None:
        """Deliver on this node, then hand the same dispatch to the other nodes in one message."""
        if self._invalidate is not None:
            await self._invalidate(batch)
        dispatch = route(batch)
        if not dispatch:
            return
        await self.node.apply(dispatch)
        if self._lost:
            # Redis refused a batch before and the notice is not out yet: this batch is covered by that
            # notice too (sent later than this batch would be, never before it), so skip the doomed publish.
            self._lost.add(dispatch)
            self._start_notice()
            return
        try:
            parts = split(dispatch) if self._routes is not None else [(None, dispatch)]
            await self._broker.publish([(topic, encode(self.node_id, part)) for topic, part in parts])
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("broker publish failed; other nodes will resync", extra={"error": error})
            self._lost.add(dispatch)
            self._start_notice()

    def _resubscribed(self) -> None:
        self.node.caught_up()
        self._wake_notice.set()  # Redis is back: send the notice now, not at the end of the back-off

    def _start_notice(self) -> None:
        if self._notice is None or self._notice.done():
            self._notice = asyncio.get_running_loop().create_task(self._send_notice(), name="broker resync notice")

    async def _send_notice(self) -> None:
        """Publish what was lost as one resync notice, retried with back-off until Redis takes it."""
        delay = NOTICE_RETRY_MIN_SECONDS
        while self._lost:
            self._wake_notice.clear()
            lost = self._lost.take()
            try:
                await self._broker.publish([(None, encode_notice(self.node_id, lost))])
            except Exception:
                self._lost.merge(lost)
                # Sleep until the back-off ends or the subscription is back, whichever comes first.
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake_notice.wait(), delay)
                delay = min(delay * 2, NOTICE_RETRY_MAX_SECONDS)
            else:
                log.info("resync notice published", extra={"threads": len(lost.chat), "projects": len(lost.projects)})
                delay = NOTICE_RETRY_MIN_SECONDS

    async def receive(self, raw: bytes) -> None:
        """A message from the broker: apply another node's dispatch here (our own was applied already)."""
        self.received += 1
        BROKER_RECEIVED.inc()
        BROKER_RECEIVED_BYTES.inc(len(raw))
        try:
            if is_notice(raw):
                node_id, lost = decode_notice(raw)
                if node_id != self.node_id:
                    await self._resync_for(lost)
                return
            node_id, dispatch = decode(raw)
        except (ValueError, KeyError, TypeError, IndexError):
            log.warning("ignoring a malformed broker message", extra={"size": len(raw)})
            return
        if node_id != self.node_id:
            await self.node.apply(dispatch)

    async def _resync_for(self, lost: Lost) -> None:
        """Another node could not publish: its ended sessions end here, and its rooms' sockets resync."""
        if lost.sessions:
            self.node.end_sessions(lost.sessions)
        if lost.everything:
            await self.node.resync(None, None)
        else:
            await self.node.resync(lost.chat, lost.projects)
