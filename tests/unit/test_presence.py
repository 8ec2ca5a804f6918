"""Presence rules with fakes: precedence across connections, per-project coalescing, members only, sweeps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pytest

from roughcut.domain import presence
from roughcut.domain.events import Audience, Committed, PresenceChanged
from roughcut.domain.presence import Coalescer, Presence, PresenceHub, replaced, status_of
from roughcut.domain.presence_model import Connection, Status, Swept
from roughcut.realtime.dispatch import Emit, route
from roughcut.realtime.rooms import PRESENCE_NAMESPACE, presence_room
from tests.unit.fakes import FakeClock, FakeUow, RecordingPublisher, Store
from tests.unit.support import Team, refused

WINDOW = 1.0
TTL = 30.0
AWAY_AFTER = 300.0
NODE = "node-a"


class FakePresenceStore:
    """The PresenceStore port in a dict, answering live entries before each change like the adapters."""

    def __init__(self) -> None:
        self.entries: dict[int, dict[Connection, float]] = {}
        self.to_sweep: list[Swept] = []
        self.beats: list[dict[int, list[Connection]]] = []
        self.restore = False  # the next heartbeat finds the node swept and restores its entries

    async def change(
        self,
        project_id: int,
        remove: Connection | None,
        add: Connection | None,
        now: float,
        expiry: float,
        everyone: bool = True,
    ) -> list[Connection]:
        held = self.entries.setdefault(project_id, {})
        changed = add or remove
        assert changed is not None
        live = [c for c, exp in held.items() if exp >= now and (everyone or c.user_id == changed.user_id)]
        if remove is not None:
            held.pop(remove, None)
        if add is not None:
            held[add] = expiry
        return live

    async def online(self, project_id: int, now: float) -> list[Connection]:
        return [c for c, exp in self.entries.get(project_id, {}).items() if exp >= now]

    async def heartbeat(self, node: str, held: Mapping[int, Sequence[Connection]], now: float, expiry: float) -> bool:
        self.beats.append({pid: list(conns) for pid, conns in held.items()})
        restored, self.restore = self.restore, False
        return restored

    async def sweep(self, now: float) -> list[Swept]:
        found, self.to_sweep = self.to_sweep, []
        return found

    async def release(self, node: str, until: float) -> None:
        """Nothing to hand over."""


@pytest.fixture
def fake_store() -> FakePresenceStore:
    return FakePresenceStore()


@pytest.fixture
def pres(store: Store, clock: FakeClock, publisher: RecordingPublisher, fake_store: FakePresenceStore) -> Presence:
    return Presence(
        uow=lambda: FakeUow(store, publisher, clock),
        store=fake_store,
        publisher=publisher,
        clock=clock,
        hub=PresenceHub(NODE, Coalescer(WINDOW)),
        ttl=TTL,
    )


def conn(user_id: int, sid: str, status: Status = Status.ONLINE, at_ms: int = 0) -> Connection:
    return Connection(user_id, NODE, sid, status, at_ms)


async def flushed(pres: Presence, clock: FakeClock, publisher: RecordingPublisher) -> list[tuple[int, str]]:
    """Close the window and publish; (user, status) of every presence change published by that flush."""
    publisher.clear()
    clock.advance(seconds=WINDOW)
    await presence.flush(pres)
    return [(c.event.user_id, c.event.status) for c in publisher.committed if isinstance(c.event, PresenceChanged)]


def test_the_best_status_of_a_users_connections_wins() -> None:
    entries = [conn(1, "a", Status.AWAY, 5), conn(1, "b", Status.ONLINE, 9), conn(1, "c", Status.ONLINE, 7)]
    assert status_of(entries, 1) == (Status.ONLINE, 7)  # since the earliest connection holding it
    assert status_of(entries[:1], 1) == (Status.AWAY, 5)
    assert status_of(entries, 2) == (Status.OFFLINE, 0)


def test_a_replayed_store_command_yields_the_same_transition() -> None:
    new, other = conn(1, "a"), conn(2, "x")
    first = replaced([other], None, new)
    assert first == replaced([other, new], None, new)  # Redis ran it twice; the answer shows it already there
    assert status_of(first[0], 1)[0] == Status.OFFLINE and status_of(first[1], 1)[0] == Status.ONLINE


def test_coalescing_keeps_only_net_changes_after_the_window() -> None:
    c = Coalescer(WINDOW)
    c.note(7, 1, Status.OFFLINE, Status.ONLINE, 0, now=0.0)
    c.note(7, 2, Status.ONLINE, Status.OFFLINE, 0, now=0.1)
    c.note(7, 2, Status.OFFLINE, Status.ONLINE, 0, now=0.2)  # flapped back: nothing to say
    c.note(7, 3, Status.ONLINE, Status.ONLINE, 0, now=0.3)  # no transition at all
    assert c.due(0.5) == []
    assert [(e.user_id, e.status) for e in c.due(1.0)] == [(1, "online")]
    assert c.due(5.0) == []


async def test_two_tabs_count_once_and_only_the_last_one_leaving_is_news(
    pres: Presence, team: Team, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    online = await presence.subscribe(pres, team.member, "tab1", team.project_id)
    assert [(u.user_id, u.nickname, u.status) for u in online] == [(team.member, "Mia", Status.ONLINE)]
    await presence.subscribe(pres, team.member, "tab2", team.project_id)
    assert await flushed(pres, clock, publisher) == [(team.member, "online")]
    (change,) = publisher.committed
    assert set(change.audience.users) == team.members

    await presence.disconnect(pres, "tab1")
    assert await flushed(pres, clock, publisher) == []
    await presence.disconnect(pres, "tab2")
    assert await flushed(pres, clock, publisher) == [(team.member, "offline")]


async def test_a_user_flapping_within_the_window_produces_nothing(
    pres: Presence, team: Team, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    await presence.subscribe(pres, team.owner, "tab1", team.project_id)
    assert await flushed(pres, clock, publisher) == [(team.owner, "online")]
    for n in range(5):  # a reloading tab: gone and back, again and again, inside one window
        await presence.disconnect(pres, f"tab{n + 1}")
        await presence.subscribe(pres, team.owner, f"tab{n + 2}", team.project_id)
    assert await flushed(pres, clock, publisher) == []


async def test_away_counts_only_when_no_connection_is_online(
    pres: Presence, team: Team, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    await presence.subscribe(pres, team.member, "tab1", team.project_id)
    await presence.subscribe(pres, team.member, "tab2", team.project_id)
    await flushed(pres, clock, publisher)
    await presence.set_status(pres, team.member, "tab1", Status.AWAY)
    assert await flushed(pres, clock, publisher) == []
    await presence.set_status(pres, team.member, "tab2", Status.AWAY)
    assert await flushed(pres, clock, publisher) == [(team.member, "away")]
    listed = await presence.online(pres, team.owner, team.project_id)
    assert [(u.user_id, u.status) for u in listed] == [(team.member, Status.AWAY)]


async def test_a_quiet_socket_turns_away_and_is_back_when_it_speaks(
    pres: Presence, team: Team, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    idle = replace(pres, away_after=AWAY_AFTER, ttl=10 * AWAY_AFTER)  # entries outlive the quiet spell here
    await presence.subscribe(idle, team.member, "quiet", team.project_id)
    await presence.subscribe(idle, team.owner, "chosen-away", team.project_id)
    await presence.set_status(idle, team.owner, "chosen-away", Status.AWAY)
    await flushed(idle, clock, publisher)
    spoke = clock.now().timestamp()
    clock.advance(seconds=AWAY_AFTER - 1)
    assert await presence.mark_idle(idle, lambda _sid: spoke) == []  # not quiet for long enough yet
    clock.advance(seconds=1)
    assert sorted(await presence.mark_idle(idle, lambda _sid: spoke)) == ["chosen-away", "quiet"]
    assert await presence.mark_idle(idle, lambda _sid: spoke) == []  # once per quiet spell
    assert await flushed(idle, clock, publisher) == [(team.member, "away")]  # the owner was away already
    await presence.resume(idle, "quiet")
    await presence.resume(idle, "chosen-away")  # speaking does not undo what the client chose
    assert await flushed(idle, clock, publisher) == [(team.member, "online")]
    listed = await presence.online(idle, team.member, team.project_id)
    assert [(u.user_id, u.status) for u in listed] == sorted([(team.member, Status.ONLINE), (team.owner, Status.AWAY)])


async def test_idleness_is_off_without_away_after(pres: Presence, team: Team, clock: FakeClock) -> None:
    await presence.subscribe(pres, team.member, "quiet", team.project_id)
    clock.advance(seconds=10 * AWAY_AFTER)
    assert await presence.mark_idle(pres, lambda _sid: 0.0) == []


async def test_non_members_are_refused_and_leave_no_trace(
    pres: Presence, team: Team, fake_store: FakePresenceStore, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    await refused(presence.subscribe(pres, team.outsider, "tab", team.project_id), "not_found")
    await refused(presence.online(pres, team.outsider, team.project_id), "not_found")
    assert fake_store.entries == {} and pres.hub.sockets == {}
    assert await flushed(pres, clock, publisher) == []


async def test_a_sweep_reports_the_users_of_a_dead_node(
    pres: Presence, team: Team, fake_store: FakePresenceStore, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    await presence.subscribe(pres, team.owner, "here", team.project_id)
    await flushed(pres, clock, publisher)
    elsewhere = Connection(team.member, "dead-node", "s1", Status.ONLINE, 0)
    both = Connection(team.owner, "dead-node", "s2", Status.ONLINE, 0)
    mine = conn(team.owner, "here")
    fake_store.to_sweep = [Swept(team.project_id, (elsewhere, both), (mine,))]
    await presence.tick(pres)
    assert fake_store.beats[-1] == {team.project_id: [pres.hub.sockets["here"].conn]}
    assert await flushed(pres, clock, publisher) == [(team.member, "offline")]  # the owner is still here


async def test_presence_changes_route_to_the_members_presence_rooms() -> None:
    change = PresenceChanged(5, 9, "away", FakeClock().now())
    dispatch = route([Committed(change, Audience(users=(9, 10)))])
    (step,) = dispatch.steps
    assert isinstance(step, Emit)
    assert (step.namespace, step.event, step.rooms) == (
        PRESENCE_NAMESPACE,
        "presence",
        [presence_room(5, 9), presence_room(5, 10)],
    )
    assert step.payload == {"project_id": 5, "user_id": 9, "status": "away", "at": change.at}
    assert dispatch.projects == []  # no SSE stream wakes for presence


def test_presence_settings_are_checked() -> None:
    from roughcut.config import ConfigError, Settings

    parsed = Settings.from_env({"PRESENCE_TTL": "40", "PRESENCE_HEARTBEAT": "15", "PRESENCE_WINDOW_MS": "250"})
    assert (parsed.presence_ttl, parsed.presence_heartbeat, parsed.presence_window) == (40.0, 15.0, 0.25)
    with pytest.raises(ConfigError, match="PRESENCE_HEARTBEAT"):
        Settings.from_env({"PRESENCE_TTL": "20", "PRESENCE_HEARTBEAT": "15"})  # one missed beat would kill


async def test_a_leave_the_store_refused_is_retried_by_the_heartbeat(
    pres: Presence, team: Team, fake_store: FakePresenceStore, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    await presence.subscribe(pres, team.member, "tab", team.project_id)
    await flushed(pres, clock, publisher)
    working = fake_store.change

    async def down(*args: object, **kwargs: object) -> list[Connection]:
        raise ConnectionError("Redis is away")

    fake_store.change = down  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await presence.disconnect(pres, "tab")
    fake_store.change = working  # type: ignore[method-assign]
    await presence.tick(pres)
    assert await flushed(pres, clock, publisher) == [(team.member, "offline")]
    assert pres.hub.orphans == [] and fake_store.entries[team.project_id] == {}


async def test_a_node_swept_by_mistake_announces_its_users_again(
    pres: Presence, team: Team, fake_store: FakePresenceStore, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    await presence.subscribe(pres, team.member, "tab", team.project_id)
    await flushed(pres, clock, publisher)
    mine = pres.hub.sockets["tab"].conn
    fake_store.to_sweep = [Swept(team.project_id, (mine,), ())]  # another node took this one for dead
    await presence.tick(pres)
    assert await flushed(pres, clock, publisher) == [(team.member, "offline")]
    fake_store.restore = True
    await presence.tick(pres)
    assert await flushed(pres, clock, publisher) == [(team.member, "online")]
