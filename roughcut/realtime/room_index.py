"""python-socketio's room bookkeeping without its whole-namespace scans.

The library's manager finds the rooms of a leaving socket by copying its namespace's room table and
testing every room (`basic_disconnect`, `get_rooms`), and keeps the sockets still connecting or
disconnecting in lists it searches and edits from the front. With 10,000 sockets on a node, each in its
own room, a user room and a session room, that is a 30,000-entry copy and scan per disconnect: when
they all left at once the node spent a minute at full CPU. `IndexedRooms` keeps each socket's rooms
beside the table (a tuple per socket and namespace, updated where the library enters and leaves rooms)
and the pending sockets in insertion-ordered dicts, so each of those steps costs what the socket has,
not what the node has. The library methods it replaces are pinned in tests/unit/test_room_index.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import socketio


class SidSet:
    """The list operations python-socketio uses on its pending lists (append, remove, in, len), in O(1)."""

    __slots__ = ("_sids",)

    def __init__(self, sids: Iterable[str] = ()) -> None:
        self._sids = dict.fromkeys(sids)

    def append(self, sid: str) -> None:
        self._sids[sid] = None

    def remove(self, sid: str) -> None:
        del self._sids[sid]  # KeyError where list.remove raises ValueError: the library checks `in` first

    def __contains__(self, sid: object) -> bool:
        return sid in self._sids

    def __len__(self) -> int:
        return len(self._sids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sids)


class _PendingTable(dict[str, SidSet]):
    """`pending_connect` / `pending_disconnect`: the list the library stores for a namespace becomes a SidSet."""

    def __setitem__(self, namespace: str, sids: Iterable[str]) -> None:
        super().__setitem__(namespace, sids if isinstance(sids, SidSet) else SidSet(sids))


class IndexedRooms(socketio.AsyncManager):  # type: ignore[misc]
    """The manager's room table plus, per namespace, each socket's rooms (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending_connect = _PendingTable()
        self.pending_disconnect = _PendingTable()
        self._rooms_of: dict[str, dict[str, tuple[Any, ...]]] = {}

    def rooms_of(self, sid: str, namespace: str) -> tuple[Any, ...]:
        """Every room the socket is in, its own and the None room included."""
        return self._rooms_of.get(namespace, {}).get(sid, ())

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        index = self._rooms_of.setdefault(namespace, {})
        held = index.get(sid, ())
        if room not in held:
            index[sid] = (*held, room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        index = self._rooms_of.get(namespace)
        held = index.get(sid) if index is not None else None
        if index is None or held is None or room not in held:
            return
        rest = tuple(r for r in held if r != room)
        if rest:
            index[sid] = rest
        else:
            del index[sid]
            if not index:
                del self._rooms_of[namespace]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """The library's, with the socket's rooms read from the index instead of a scan of every room."""
        if namespace not in self.rooms:
            return
        for room in self.rooms_of(sid, namespace):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for table in (self.pending_connect, self.pending_disconnect):
            pending = table.get(namespace)
            if pending is not None and sid in pending:
                pending.remove(sid)
                if not pending:
                    del table[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        """The rooms the socket is in, except the None room (as the library answers)."""
        return [room for room in self.rooms_of(sid, namespace) if room is not None]
