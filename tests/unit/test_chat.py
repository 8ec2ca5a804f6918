"""Chat rules: members only, gap-free seq per room, idempotent retries, forward-only read markers, who hears what."""

from __future__ import annotations

from dataclasses import replace

import pytest

from roughcut.domain import chat as chat_uc
from roughcut.domain import errors
from roughcut.domain.chat import HISTORY_MAX, MEMBERS_TTL, REPLAY_MAX, TEXT_MAX, Chat, RoomMembers
from roughcut.domain.chat_model import ChatMessage, LockedThread, PostMessage, Sent
from roughcut.domain.events import MessagePosted, ReadMoved, TypingChanged
from roughcut.domain.feedback import create_thread, get_thread
from roughcut.domain.project_model import Role, UserRef
from roughcut.domain.projects import Projects, remove_member
from tests.unit.fakes import FakeChatWriter, FakeClock, RecordingPublisher, Store
from tests.unit.fakes.store import START, MessageRow
from tests.unit.support import Team, refused, refused_quietly


def _post(user: int, fid: int, client_id: str, text: str = "hello") -> PostMessage:
    return PostMessage(user, fid, client_id, text)


def _seed_messages(store: Store, fid: int, author: int, count: int) -> None:
    """Messages stored earlier (as the group commit leaves them: rows plus the thread's counter)."""
    for seq in range(1, count + 1):
        mid = next(store.ids)
        store.messages[mid] = MessageRow(mid, fid, seq, author, f"c{seq}", f"m{seq}", START)
    store.threads[fid] = replace(store.threads[fid], last_seq=count)


# ---- send ----


async def test_messages_get_gap_free_seqs_and_reach_every_member(
    chat: Chat, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    first = await chat_uc.send(chat, _post(team.member, team.thread_id, "a"))
    second = await chat_uc.send(chat, _post(team.owner, team.thread_id, "a", "hi back"))  # another author's "a"
    assert [(s.message.seq, s.duplicate) for s in (first, second)] == [(1, False), (2, False)]
    assert first.message.author == UserRef(team.member, "Mia")
    assert store.threads[team.thread_id].last_seq == 2
    posted = publisher.messages()
    assert [c.event.message for c in posted if isinstance(c.event, MessagePosted)] == [first.message, second.message]
    assert len(posted) == 2 and all(set(c.audience.users) == team.members for c in posted)
    assert publisher.events() == []  # chat messages do not go through the project event log


async def test_a_retried_send_returns_the_stored_message(
    chat: Chat, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    first = await chat_uc.send(chat, _post(team.member, team.thread_id, "once", "hello"))
    publisher.clear()
    again = await chat_uc.send(chat, _post(team.member, team.thread_id, "once", "hello (edited?)"))
    assert again == Sent(first.message, duplicate=True)
    assert len(store.messages) == 1 and store.threads[team.thread_id].last_seq == 1
    assert publisher.committed == []


@pytest.mark.parametrize("text", ["", " \n\t ", "x" * (TEXT_MAX + 1)])
async def test_send_validation(chat: Chat, store: Store, publisher: RecordingPublisher, team: Team, text: str) -> None:
    error = await refused_quietly(
        chat_uc.send(chat, _post(team.member, team.thread_id, "v", text)), "validation_failed", store, publisher
    )
    assert set(error.fields) == {"text"}


async def test_text_keeps_its_white_space(chat: Chat, team: Team) -> None:
    sent = await chat_uc.send(chat, _post(team.member, team.thread_id, "w", "  indented\n"))
    assert sent.message.text == "  indented\n"


@pytest.mark.parametrize("who", ["outsider", "removed"])
async def test_non_members_cannot_post(
    chat: Chat, deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, who: str
) -> None:
    user = team.outsider
    if who == "removed":
        await remove_member(deps, team.owner, team.project_id, team.member)
        publisher.clear()
        user = team.member
    await refused_quietly(chat_uc.send(chat, _post(user, team.thread_id, "x")), "not_found", store, publisher)
    await refused_quietly(chat_uc.send(chat, _post(team.owner, 999_999, "x")), "not_found", store, publisher)


async def test_a_batch_decides_each_send(
    writer: FakeChatWriter, deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    other = await create_thread(deps, team.owner, team.project_id, "Other", "")
    publisher.clear()
    answers = await writer.send_batch(
        [
            _post(team.member, team.thread_id, "a"),
            _post(team.outsider, team.thread_id, "a"),  # refused: takes no seq
            _post(team.owner, other.id, "a"),
            _post(team.member, team.thread_id, "a"),  # the same send twice in one batch
            _post(team.manager, team.thread_id, "b"),
        ]
    )
    sent = [a for a in answers if isinstance(a, Sent)]
    assert isinstance(answers[1], errors.NotFound)
    assert [(a.message.feedback_id, a.message.seq, a.duplicate) for a in sent] == [
        (team.thread_id, 1, False),
        (other.id, 1, False),
        (team.thread_id, 1, True),
        (team.thread_id, 2, False),
    ]
    assert (store.threads[team.thread_id].last_seq, store.threads[other.id].last_seq) == (2, 1)
    assert len(publisher.batches) == 1  # one transaction, one publish
    assert [
        (c.event.message.feedback_id, c.event.message.seq)
        for c in publisher.messages()
        if isinstance(c.event, MessagePosted)
    ] == [
        (team.thread_id, 1),
        (other.id, 1),
        (team.thread_id, 2),
    ]


async def test_a_batch_of_refusals_publishes_nothing(
    writer: FakeChatWriter, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    answers = await writer.send_batch([_post(team.outsider, team.thread_id, "a"), _post(team.owner, 404, "b")])
    assert [type(a) for a in answers] == [errors.NotFound, errors.NotFound]
    assert publisher.committed == [] and store.messages == {}


# ---- join and history ----


async def test_join_replays_what_was_missed(chat: Chat, store: Store, team: Team) -> None:
    _seed_messages(store, team.thread_id, team.owner, 5)
    store.reads[(team.thread_id, team.member)] = 2
    joined = await chat_uc.join(chat, team.member, team.thread_id, 3)
    assert (joined.project_id, joined.last_seq, joined.read_seq, joined.truncated) == (team.project_id, 5, 2, False)
    assert [m.seq for m in joined.missed] == [4, 5]
    assert (await chat_uc.join(chat, team.member, team.thread_id, None)).missed == []
    assert (await chat_uc.join(chat, team.member, team.thread_id, 5)).missed == []


async def test_join_bounds_the_replay(chat: Chat, store: Store, team: Team) -> None:
    _seed_messages(store, team.thread_id, team.owner, REPLAY_MAX + 1)
    joined = await chat_uc.join(chat, team.member, team.thread_id, 0)
    assert joined.truncated and [m.seq for m in joined.missed] == list(range(1, REPLAY_MAX + 1))
    exactly = await chat_uc.join(chat, team.member, team.thread_id, 1)
    assert not exactly.truncated and len(exactly.missed) == REPLAY_MAX


async def test_outsiders_cannot_join_or_read(chat: Chat, team: Team) -> None:
    await refused(chat_uc.join(chat, team.outsider, team.thread_id, None), "not_found")
    await refused(chat_uc.history(chat, team.outsider, team.thread_id, None, None, 10), "not_found")
    await refused(chat_uc.mark_read(chat, team.outsider, team.thread_id, 0), "not_found")
    await refused(chat_uc.start_typing(chat, team.outsider, team.thread_id, "sid"), "not_found")
    await refused(chat_uc.join(chat, team.owner, 999_999, None), "not_found")


async def test_history_pages_in_seq_order(chat: Chat, store: Store, team: Team) -> None:
    _seed_messages(store, team.thread_id, team.owner, 10)

    async def seqs(before: int | None, after: int | None, limit: int) -> list[int]:
        return [m.seq for m in await chat_uc.history(chat, team.member, team.thread_id, before, after, limit)]

    assert await seqs(None, None, 3) == [8, 9, 10]  # the latest
    assert await seqs(8, None, 3) == [5, 6, 7]
    assert await seqs(None, 8, 5) == [9, 10]
    assert await seqs(2, None, 5) == [1]


async def test_history_limit_is_capped(chat: Chat, store: Store, team: Team) -> None:
    _seed_messages(store, team.thread_id, team.owner, HISTORY_MAX + 5)
    page = await chat_uc.history(chat, team.member, team.thread_id, None, 0, 10_000)
    assert len(page) == HISTORY_MAX


async def test_a_gone_authors_messages_have_no_author(chat: Chat, store: Store, team: Team) -> None:
    await chat_uc.send(chat, _post(team.member, team.thread_id, "a"))
    store.drop_user(team.member)
    (message,) = await chat_uc.history(chat, team.owner, team.thread_id, None, None, 10)
    assert message.author is None and message.wire()["author"] is None


# ---- read markers ----


async def test_read_marker_moves_forward_only_and_the_room_hears(
    chat: Chat, deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    _seed_messages(store, team.thread_id, team.owner, 5)
    logged = list(store.events)
    assert await chat_uc.mark_read(chat, team.member, team.thread_id, 4) == 4
    assert await chat_uc.mark_read(chat, team.member, team.thread_id, 2) == 4
    assert store.reads[(team.thread_id, team.member)] == 4
    assert (await get_thread(deps, team.member, team.thread_id)).my_read_seq == 4
    moved = [c for c in publisher.committed if isinstance(c.event, ReadMoved)]
    assert [c.event for c in moved] == [ReadMoved(team.thread_id, team.member, 4)] * 2
    assert all(set(c.audience.users) == team.members for c in moved)
    assert publisher.events() == [] and store.events == logged  # live only: not in the project's log


async def test_read_marker_cannot_pass_the_last_message(
    chat: Chat, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    _seed_messages(store, team.thread_id, team.owner, 3)
    error = await refused_quietly(
        chat_uc.mark_read(chat, team.member, team.thread_id, 4), "validation_failed", store, publisher
    )
    assert set(error.fields) == {"seq"}


# ---- typing notices and the member memory ----


def _typing_notices(publisher: RecordingPublisher) -> list[tuple[bool, str, set[int]]]:
    return [
        (c.event.typing, c.event.origin, set(c.audience.users))
        for c in publisher.committed
        if isinstance(c.event, TypingChanged)
    ]


async def test_typing_notices_go_to_members_remembered_for_a_short_while(
    chat: Chat, store: Store, clock: FakeClock, team: Team, publisher: RecordingPublisher
) -> None:
    await chat_uc.start_typing(chat, team.member, team.thread_id, "sid-1")
    store.join(team.project_id, team.outsider, Role.MEMBER)
    await chat_uc.stop_typing(chat, team.member, team.thread_id, "sid-1")  # the members are remembered
    clock.advance(seconds=MEMBERS_TTL.total_seconds())
    await chat_uc.stop_typing(chat, team.member, team.thread_id, "sid-1")
    assert _typing_notices(publisher) == [
        (True, "sid-1", team.members),
        (False, "sid-1", team.members),
        (False, "sid-1", team.members | {team.outsider}),
    ]


async def test_typing_still_checks_membership_when_members_are_remembered(
    chat: Chat, deps: Projects, team: Team, publisher: RecordingPublisher
) -> None:
    await chat_uc.start_typing(chat, team.member, team.thread_id, "sid-1")
    await remove_member(deps, team.owner, team.project_id, team.member)
    publisher.clear()
    await refused(chat_uc.start_typing(chat, team.member, team.thread_id, "sid-1"), "not_found")
    assert _typing_notices(publisher) == []


def test_room_members_memory(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = RoomMembers(clock)
    assert memory.get(1) is None
    memory.remember(1, (7, 8))
    assert memory.get(1) == (7, 8) and memory.get(2) is None
    clock.advance(seconds=MEMBERS_TTL.total_seconds() - 0.001)
    assert memory.get(1) == (7, 8)
    clock.advance(seconds=0.001)
    assert memory.get(1) is None
    monkeypatch.setattr(chat_uc, "MEMBERS_CACHED_MAX", 2)
    memory.remember(1, (1,))
    memory.remember(2, (2,))
    memory.remember(3, (3,))  # past the bound: the memory starts over
    assert (memory.get(1), memory.get(2), memory.get(3)) == (None, None, (3,))


# ---- the group commit's pure decisions ----

THREADS = {10: LockedThread(4, {1: "Ann", 2: "Bob"}), 20: LockedThread(0, {1: "Ann"})}


def _stored(fid: int, seq: int, author: int, client_id: str) -> ChatMessage:
    return ChatMessage(100 + seq, fid, seq, UserRef(author, "Ann"), client_id, "old", START)


def test_retry_keys_are_the_members_sends_sorted_once() -> None:
    items = [_post(2, 10, "b"), _post(1, 10, "a"), _post(2, 20, "x"), _post(1, 99, "z"), _post(2, 10, "b")]
    assert chat_uc.retry_keys(items, THREADS) == [(10, 1, "a"), (10, 2, "b")]


def test_plan_counts_on_from_each_locked_thread() -> None:
    items = [_post(1, 10, "a"), _post(1, 20, "a"), _post(2, 10, "b")]
    plan = chat_uc.plan_batch(items, THREADS, {})
    assert [(r.feedback_id, r.seq, r.author_id, r.client_id) for r in plan.rows] == [
        (10, 5, 1, "a"),
        (20, 1, 1, "a"),
        (10, 6, 2, "b"),
    ]
    assert plan.last_seq == {10: 6, 20: 1}


def test_plan_answers_retries_and_refusals_without_rows() -> None:
    old = _stored(10, 4, 1, "a")
    items = [_post(1, 10, "a"), _post(2, 20, "x"), _post(1, 99, "y")]
    plan = chat_uc.plan_batch(items, THREADS, {(10, 1, "a"): old})
    assert plan.rows == [] and plan.last_seq == {}
    answers, committed = chat_uc.settle_batch(plan, THREADS, [], START)
    assert answers[0] == Sent(old, duplicate=True)
    assert [type(a) for a in answers[1:]] == [errors.NotFound, errors.NotFound]
    assert committed == []


def test_settle_answers_in_send_order_and_publishes_in_seq_order() -> None:
    items = [_post(2, 10, "b"), _post(1, 10, "a"), _post(2, 10, "b")]
    plan = chat_uc.plan_batch(items, THREADS, {})
    answers, committed = chat_uc.settle_batch(plan, THREADS, [501, 502], START)
    assert [(a.message.id, a.message.seq, a.duplicate) for a in answers if isinstance(a, Sent)] == [
        (501, 5, False),
        (502, 6, False),
        (501, 5, True),
    ]
    messages = [c.event.message for c in committed if isinstance(c.event, MessagePosted)]
    assert [(m.seq, m.author) for m in messages] == [(5, UserRef(2, "Bob")), (6, UserRef(1, "Ann"))]
    assert {c.audience.users for c in committed} == {(1, 2)}


def test_settle_needs_one_id_per_row() -> None:
    plan = chat_uc.plan_batch([_post(1, 10, "a")], THREADS, {})
    with pytest.raises(ValueError):
        chat_uc.settle_batch(plan, THREADS, [], START)
