"""This node's SSE waiters: woken per project, consumed by a wait, and woken for good at shutdown."""

from __future__ import annotations

import asyncio

import pytest

from roughcut.realtime import notifier as notifier_module
from roughcut.realtime.notifier import Notifier, Subscription

WAIT = 1.0


async def _woken(sub: Subscription) -> None:
    await asyncio.wait_for(sub.wait(), WAIT)


async def _not_woken(sub: Subscription) -> bool:
    # A woken waiter returns without suspending, so a zero timeout only fires on one that was not woken.
    try:
        async with asyncio.timeout(0):
            await sub.wait()
    except TimeoutError:
        return True
    return False


async def test_news_wakes_only_that_projects_waiters_once() -> None:
    notifier = Notifier()
    async with notifier.listen(7) as wanted, notifier.listen(8) as other:
        notifier.wake([7])
        await _woken(wanted)
        assert await _not_woken(other)
        assert await _not_woken(wanted)  # consumed: the next wait needs new news
        notifier.wake_all()
        await _woken(other)
    assert notifier.listeners(7) == notifier.listeners(8) == 0


async def test_close_wakes_every_waiter_for_good() -> None:
    notifier = Notifier()
    async with notifier.listen(3) as sub:
        notifier.close()
        await _woken(sub)
        await _woken(sub)
        assert sub.closed
    async with notifier.listen(4) as late:
        await _woken(late)
    assert notifier.listeners(3) == notifier.listeners(4) == 0


async def test_listening_attends_the_project_before_it_returns_and_a_failed_attend_leaves_no_waiter() -> None:
    attended: list[int] = []

    async def attend(project_id: int) -> None:
        if project_id < 0:
            raise OSError("broker away")
        attended.append(project_id)

    notifier = Notifier(attend)
    async with notifier.listen(5):
        assert attended == [5]
        assert notifier.projects() == [5]
    with pytest.raises(OSError):
        async with notifier.listen(-1):
            pass
    assert notifier.projects() == [] and notifier.listeners(-1) == 0


async def test_live_changes_reach_only_their_audience_and_a_slow_stream_keeps_the_newest() -> None:
    notifier = Notifier()
    async with notifier.listen(7) as sub, notifier.listen(8) as elsewhere:
        notifier.live(7, "upload.progress", {"bytes": 1}, [1, 2])
        async with asyncio.timeout(1):
            await sub.wait()  # a live change wakes the stream like news does
        assert sub.take_live(3) == []  # not a member when the progress was published
        for n in range(2, 2 + notifier_module.LIVE_MAX + 5):
            notifier.live(7, "upload.progress", {"bytes": n}, [1, 2])
        got = sub.take_live(1)
        assert len(got) == notifier_module.LIVE_MAX and got[-1] == (
            "upload.progress",
            {"bytes": 1 + notifier_module.LIVE_MAX + 5},
        )
        assert sub.take_live(1) == [] and elsewhere.take_live(1) == []
