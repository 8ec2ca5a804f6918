"""Room routing: a dispatch split per topic, the topics a node needs, attending before returning, pruning."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

from roughcut.realtime.dispatch import Close, Dispatch, Emit
from roughcut.realtime.rooms import chat_room, member_room, presence_room, session_room
from roughcut.realtime.routing import Routes, needed_topics, split, topic_of


def test_rooms_map_to_their_thread_project_or_presence_topic() -> None:
    assert topic_of(chat_room(12, 3)) == "chat:12"
    assert topic_of(member_room(7, 3)) == "project:7"
    assert topic_of(presence_room(7, 3)) == "presence:7"
    assert topic_of(session_room(9)) is None
    assert topic_of("sid-abc") is None
    assert topic_of(None) is None  # python-socketio's room of every socket in a namespace


def test_split_keeps_each_topics_steps_in_order_and_sends_session_ends_everywhere() -> None:
    message_a = Emit("/chat", "message", {"seq": 1}, [chat_room(1, 5), chat_room(1, 6)])
    event = Emit("/projects", "event", {"id": 10}, [member_room(4, 5)])
    message_b = Emit("/chat", "message", {"seq": 2}, [chat_room(1, 5)])
    leaving = Close("/chat", [chat_room(1, 6), chat_room(2, 6)])
    revoked = Emit("/", "session_revoked", {"session_id": 3}, [session_room(3)])
    dispatch = Dispatch([message_a, event, message_b, leaving, revoked], ended_sessions=[3], projects=[4])

    parts = dict(split(dispatch))

    assert list(parts) == ["chat:1", "project:4", "chat:2", None]
    assert parts["chat:1"].steps == [message_a, message_b, Close("/chat", [chat_room(1, 6)])]
    assert parts["chat:2"].steps == [Close("/chat", [chat_room(2, 6)])]
    assert parts["project:4"].steps == [event] and parts["project:4"].projects == [4]
    assert parts[None].steps == [revoked] and parts[None].ended_sessions == [3]
    assert sum(len(p.steps) for p in parts.values()) == 6  # the close was cut in two, nothing else


def test_a_node_needs_the_topics_of_its_rooms_and_streams() -> None:
    rooms = {"/chat": {chat_room(1, 5): {}, "sid-1": {}, None: {}}, "/projects": {member_room(2, 5): {}}}
    assert needed_topics(rooms, [8]) == {"chat:1", "project:2", "project:8"}


class RecordingBroker:
    """A broker that records subscriptions; `hold` keeps attend() waiting, as Redis confirming late."""

    def __init__(self) -> None:
        self.topics: set[str] = set()
        self.calls: list[tuple[str, list[str]]] = []
        self.hold = asyncio.Event()
        self.hold.set()

    async def publish(self, messages: Sequence[tuple[str | None, bytes]]) -> None:
        raise AssertionError("not used here")

    async def attend(self, topics: Collection[str]) -> None:
        self.calls.append(("attend", sorted(topics)))
        await self.hold.wait()
        self.topics.update(topics)

    async def forget(self, topics: Collection[str]) -> None:
        self.calls.append(("forget", sorted(topics)))
        self.topics.difference_update(topics)

    async def start(self, *_args: object) -> None:
        return None

    async def stop(self) -> None:
        return None


async def test_attend_returns_after_the_broker_confirmed_and_only_once_per_topic() -> None:
    broker = RecordingBroker()
    routes = Routes(broker, lambda: [])
    broker.hold.clear()
    first = asyncio.create_task(routes.attend("chat:1"))
    second = asyncio.create_task(routes.attend("chat:1"))
    await asyncio.sleep(0)
    assert not first.done() and not second.done()  # neither caller may replay before the subscription holds
    broker.hold.set()
    await asyncio.wait_for(asyncio.gather(first, second), 1)
    assert broker.calls == [("attend", ["chat:1"])]
    assert routes.attended == {"chat:1"}


async def test_prune_forgets_only_what_nothing_needs_and_a_later_entry_attends_again() -> None:
    broker = RecordingBroker()
    needed = {"chat:1", "project:2"}
    routes = Routes(broker, lambda: needed)
    for topic in ("chat:1", "project:2", "chat:3"):
        await routes.attend(topic)
    await routes.prune()
    assert broker.topics == {"chat:1", "project:2"}
    needed.clear()
    await routes.prune()
    assert broker.topics == set() and routes.attended == set()
    await routes.attend("chat:1")
    assert broker.topics == {"chat:1"}
