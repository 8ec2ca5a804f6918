"""Personal calendar memos: `{id, date, memo}`, each visible only to its owner."""

from __future__ import annotations

from datetime import date

from roughcut.domain import errors
from roughcut.domain.account_model import Memo, UpdateMemo
from roughcut.domain.accounts import Accounts
from roughcut.domain.commands import UNSET, given
from roughcut.domain.transactions import writes

MEMO_MAX = 2000


def _text(memo: str) -> str:
    memo = memo.strip()
    if not 1 <= len(memo) <= MEMO_MAX:
        raise errors.ValidationFailed(fields={"memo": [f"Use 1 to {MEMO_MAX} characters."]})
    return memo


async def list_memos(
    acc: Accounts,
    user_id: int,
    start: date | None,
    end: date | None,
    after: tuple[date, int] | None,
    limit: int,
) -> list[Memo]:
    """The caller's memos dated within [start, end], by date then id, after the cursor."""
    if start is not None and end is not None and end < start:
        raise errors.ValidationFailed(fields={"to": ["Must not be before `from`."]})
    async with acc.uow() as uow:
        return await uow.memos.list(user_id, start, end, after, limit)


@writes
async def add_memo(acc: Accounts, user_id: int, day: date, memo: str) -> Memo:
    """Write a memo on a day of the caller's calendar."""
    async with acc.uow() as uow:
        created = await uow.memos.add(user_id, day, _text(memo), acc.clock.now())
        await uow.commit()
    return created


async def _own(memo: Memo | None, user_id: int) -> Memo:
    # Another user's memo is reported as missing, never as forbidden: ids reveal nothing.
    if memo is None or memo.user_id != user_id:
        raise errors.NotFound("No such memo.")
    return memo


@writes
async def update_memo(acc: Accounts, user_id: int, cmd: UpdateMemo) -> Memo:
    """Change the date or text of one of the caller's memos."""
    changes = given(cmd)
    if cmd.memo is not UNSET:
        changes["memo"] = _text(cmd.memo)
    async with acc.uow() as uow:
        current = await _own(await uow.memos.get(cmd.memo_id), user_id)
        if not changes:
            return current
        updated = await uow.memos.update(cmd.memo_id, acc.clock.now(), **changes)
        await uow.commit()
    return updated


@writes
async def delete_memo(acc: Accounts, user_id: int, memo_id: int) -> None:
    """Delete one of the caller's memos."""
    async with acc.uow() as uow:
        await _own(await uow.memos.get(memo_id), user_id)
        await uow.memos.delete(memo_id)
        await uow.commit()
