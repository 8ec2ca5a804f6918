"""Chat use cases: one room per feedback thread, messages stored with a gap-free `seq` before anyone sees them.

A send goes to the group-commit writer (a port), which stores concurrent sends in one transaction. The
writer's decisions are the pure functions at the end of this module: who may post (members of the
locked thread), which sends are retries (a stored `client_id`), and each new message's `seq`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from roughcut.domain import errors
from roughcut.domain.chat_model import (
    ChatMessage,
    JoinResult,
    LockedThread,
    NewMessageRow,
    PostMessage,
    RetryKey,
    RoomState,
    Sent,
)
from roughcut.domain.events import Audience, Committed, MessagePosted, ReadMoved, TypingChanged
from roughcut.domain.ports import ChatWriter, Clock, EventPublisher, UnitOfWork, UnitOfWorkFactory
from roughcut.domain.project_model import UserRef
from roughcut.domain.transactions import writes

TEXT_MAX = 4000
REPLAY_MAX = 200  # `join` returns at most this many missed messages; past it the client pages the history
HISTORY_MAX = 200
MEMBERS_TTL = timedelta(seconds=2)  # how long a thread's member list is reused for typing notices
MEMBERS_CACHED_MAX = 10_000  # threads remembered at most (the cache starts over past it)


@dataclass(slots=True)
class RoomMembers:
    """A short-lived per-node memory of each thread's members, for typing notices (not for messages)."""

    clock: Clock
    _seen: dict[int, tuple[datetime, tuple[int, ...]]] = field(default_factory=dict)

    def get(self, feedback_id: int) -> tuple[int, ...] | None:
        """The remembered members, or None when unknown or stale."""
        entry = self._seen.get(feedback_id)
        return entry[1] if entry is not None and entry[0] > self.clock.now() else None

    def remember(self, feedback_id: int, members: tuple[int, ...]) -> None:
        """Keep a member list just read."""
        if len(self._seen) >= MEMBERS_CACHED_MAX:
            self._seen.clear()
        self._seen[feedback_id] = (self.clock.now() + MEMBERS_TTL, members)


@dataclass(frozen=True, slots=True)
class Chat:
    """The ports the chat use cases work with."""

    uow: UnitOfWorkFactory
    writer: ChatWriter
    clock: Clock
    members: RoomMembers
    publisher: EventPublisher  # live-only notices (typing) take the same path as committed changes


async def _room(uow: UnitOfWork, user_id: int, feedback_id: int) -> RoomState:
    state = await uow.chat.room(feedback_id, user_id)
    if state is None:
        raise errors.NotFound("No such feedback thread.")
    return state


async def join(chat: Chat, user_id: int, feedback_id: int, after_seq: int | None) -> JoinResult:
    """Check membership and return the room's state and every message after `after_seq` (bounded)."""
    async with chat.uow() as uow:
        state = await _room(uow, user_id, feedback_id)
        missed: list[ChatMessage] = []
        if after_seq is not None and after_seq < state.last_seq:
            missed = await uow.chat.after(feedback_id, after_seq, REPLAY_MAX + 1)
    truncated = len(missed) > REPLAY_MAX
    return JoinResult(state.project_id, state.last_seq, state.read_seq, missed[:REPLAY_MAX], truncated)


async def between(chat: Chat, feedback_id: int, after_seq: int, before_seq: int) -> list[ChatMessage]:
    """The stored messages strictly between two seqs, in seq order (a node filling a gap in live delivery)."""
    if before_seq - after_seq <= 1:
        return []
    async with chat.uow() as uow:
        return await uow.chat.after(feedback_id, after_seq, before_seq - after_seq - 1)


def check_text(text: str) -> str:
    """Chat text: 1 to TEXT_MAX characters, not only white space."""
    if not text.strip() or len(text) > TEXT_MAX:
        raise errors.ValidationFailed(fields={"text": [f"Use 1 to {TEXT_MAX} characters."]})
    return text


async def send(chat: Chat, post: PostMessage) -> Sent:
    """Store a message (a repeated client_id returns the first one); members only."""
    check_text(post.text)
    return await chat.writer.send(post)


@writes
async def mark_read(chat: Chat, user_id: int, feedback_id: int, seq: int) -> int:
    """Move the caller's read marker forward (never back) and tell the room's members; returns the marker."""
    async with chat.uow() as uow:
        state = await _room(uow, user_id, feedback_id)
        if seq > state.last_seq:
            raise errors.ValidationFailed(fields={"seq": [f"The room's last seq is {state.last_seq}."]})
        stored = await uow.chat.mark_read(feedback_id, user_id, seq, chat.clock.now())
        members = await uow.chat.members(feedback_id)
        uow.announce(Committed(ReadMoved(feedback_id, user_id, stored), Audience(users=members)))
        await uow.commit()
    chat.members.remember(feedback_id, members)
    return stored


async def start_typing(chat: Chat, user_id: int, feedback_id: int, origin: str) -> None:
    """Tell the thread's members that a member types; non-members get not_found."""
    async with chat.uow() as uow:
        await _room(uow, user_id, feedback_id)
        members = chat.members.get(feedback_id)
        if members is None:
            members = await uow.chat.members(feedback_id)
            chat.members.remember(feedback_id, members)
    await _typing(chat, members, TypingChanged(feedback_id, user_id, True, origin))


async def stop_typing(chat: Chat, user_id: int, feedback_id: int, origin: str) -> None:
    """Tell the thread's members (recently read ones may be reused) that a member stopped typing."""
    members = chat.members.get(feedback_id)
    if members is None:
        async with chat.uow() as uow:
            members = await uow.chat.members(feedback_id)
        chat.members.remember(feedback_id, members)
    await _typing(chat, members, TypingChanged(feedback_id, user_id, False, origin))


async def _typing(chat: Chat, members: Sequence[int], notice: TypingChanged) -> None:
    await chat.publisher.publish([Committed(notice, Audience(users=tuple(members)))])


async def history(
    chat: Chat, user_id: int, feedback_id: int, before_seq: int | None, after_seq: int | None, limit: int
) -> list[ChatMessage]:
    """A page of the room's messages in seq order: after `after_seq`, or before `before_seq`, or the latest."""
    limit = min(limit, HISTORY_MAX)
    async with chat.uow() as uow:
        await _room(uow, user_id, feedback_id)
        if after_seq is not None:
            return await uow.chat.after(feedback_id, after_seq, limit)
        return await uow.chat.before(feedback_id, before_seq, limit)


# ---- the group commit's decisions: pure functions over the rows one transaction locked ----


@dataclass(frozen=True, slots=True)
class _New:
    row: int  # index into BatchPlan.rows


@dataclass(frozen=True, slots=True)
class _Repeat:
    slot: int  # an earlier send of this batch with the same client_id


_Slot = _New | _Repeat | Sent | errors.DomainError


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What one storing transaction writes, and what each send of the batch is answered."""

    rows: list[NewMessageRow]
    last_seq: dict[int, int]  # new counter per thread that got messages
    slots: list[_Slot]


def _member(item: PostMessage, threads: Mapping[int, LockedThread]) -> bool:
    thread = threads.get(item.feedback_id)
    return thread is not None and item.user_id in thread.members


def distinct_sends(items: Sequence[PostMessage]) -> tuple[list[PostMessage], list[int]]:
    """The first send of each retry key, in order, and for each item the index of its first send: a
    later send with the same key in one batch is a retry of the first and gets its answer."""
    first: dict[RetryKey, int] = {}
    distinct: list[PostMessage] = []
    index: list[int] = []
    for item in items:
        key = (item.feedback_id, item.user_id, item.client_id)
        if key not in first:
            first[key] = len(distinct)
            distinct.append(item)
        index.append(first[key])
    return distinct, index


def retry_keys(items: Sequence[PostMessage], threads: Mapping[int, LockedThread]) -> list[RetryKey]:
    """The (thread, author, client_id) keys whose stored messages the batch must look up (members' sends)."""
    return sorted({(i.feedback_id, i.user_id, i.client_id) for i in items if _member(i, threads)})


def plan_batch(
    items: Sequence[PostMessage], threads: Mapping[int, LockedThread], stored: Mapping[RetryKey, ChatMessage]
) -> BatchPlan:
    """Decide each send: refused (not a member), a retry (answered with the stored message), or new (next seq)."""
    counters = {fid: thread.last_seq for fid, thread in threads.items()}
    rows: list[NewMessageRow] = []
    slots: list[_Slot] = []
    claimed: dict[RetryKey, int] = {}
    for item in items:
        key = (item.feedback_id, item.user_id, item.client_id)
        if not _member(item, threads):
            slots.append(errors.NotFound("No such feedback thread."))
        elif key in stored:
            slots.append(Sent(stored[key], duplicate=True))
        elif key in claimed:  # the same send twice in one batch: the later one is a retry
            slots.append(_Repeat(claimed[key]))
        else:
            counters[item.feedback_id] += 1
            claimed[key] = len(slots)
            slots.append(_New(len(rows)))
            rows.append(
                NewMessageRow(item.feedback_id, counters[item.feedback_id], item.user_id, item.client_id, item.text)
            )
    moved = {row.feedback_id: counters[row.feedback_id] for row in rows}
    return BatchPlan(rows, moved, slots)


def settle_batch(
    plan: BatchPlan, threads: Mapping[int, LockedThread], ids: Sequence[int], now: datetime
) -> tuple[list[Sent | errors.DomainError], list[Committed]]:
    """Given the inserted rows' ids: each send's answer, and the new messages with their audiences, in seq order."""
    if len(ids) != len(plan.rows):
        raise ValueError("one id per inserted row")
    messages: list[ChatMessage] = []
    committed: list[Committed] = []
    for row, new_id in zip(plan.rows, ids, strict=True):
        thread = threads[row.feedback_id]
        author = UserRef(row.author_id, thread.members[row.author_id])
        message = ChatMessage(new_id, row.feedback_id, row.seq, author, row.client_id, row.text, now)
        messages.append(message)
        committed.append(Committed(MessagePosted(message), Audience(users=tuple(thread.members))))
    answers: list[Sent | errors.DomainError] = []
    for slot in plan.slots:
        if isinstance(slot, _New):
            answers.append(Sent(messages[slot.row]))
        elif isinstance(slot, _Repeat):
            first = answers[slot.slot]
            assert isinstance(first, Sent)
            answers.append(Sent(first.message, duplicate=True))
        else:
            answers.append(slot)
    return answers, committed
