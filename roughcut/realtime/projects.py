"""`/projects`: subscribe to a project's live feed, replaying what the client missed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from marshmallow import Schema

from roughcut.domain import errors, projects
from roughcut.domain.events import UPLOAD_PROGRESS
from roughcut.domain.ports import TokenIssuer
from roughcut.realtime.base import AUTH_EXPIRED, AuthNamespace, Payload, RealtimeDeps
from roughcut.realtime.envelope import event
from roughcut.realtime.ordering import SeqOrder
from roughcut.realtime.recovery import resync_payload
from roughcut.realtime.rooms import PROJECTS_NAMESPACE, member_room
from roughcut.realtime.uploads import PROGRESS_PAYLOAD
from roughcut.wire.fields import Id
from roughcut.wire.schemas import EventSchema

REPLAY_MAX = 500  # past this the ack says `truncated` and the client pages GET /projects/{id}/events


class SubscribeSchema(Schema):
    project_id = Id(required=True)
    after_event_id = Id(cursor=True)


class UnsubscribeSchema(Schema):
    project_id = Id(required=True)


class ProjectsNamespace(AuthNamespace):
    """Members subscribe; events arrive as `event {id, project_id, type, data, actor, at}`."""

    path = PROJECTS_NAMESPACE
    emits: ClassVar[Mapping[str, Payload]] = {
        "event": EventSchema,
        UPLOAD_PROGRESS: PROGRESS_PAYLOAD,
        "resync": resync_payload("project_id"),
        "auth_expired": AUTH_EXPIRED,
    }

    @classmethod
    def build(cls, deps: RealtimeDeps) -> Self:
        """The namespace of this node."""
        return cls(deps.tokens, deps.projects, deps.project_order)

    def __init__(self, tokens: TokenIssuer, deps: projects.Projects, order: SeqOrder | None = None) -> None:
        super().__init__(tokens)
        self.deps = deps
        self.order = order

    @event(SubscribeSchema)
    async def on_subscribe(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Join the feed; `missed` holds every event after `after_event_id`, oldest first.

        Delivery is at-least-once: an event committed while this runs can arrive both live and in
        `missed`, and clients drop ids they have already seen.
        """
        user_id, _ = await self.caller(sid)
        project_id = data["project_id"]
        after = data.get("after_event_id")
        await projects.member_role(self.deps, user_id, project_id)  # refuse non-members before the room
        room = member_room(project_id, user_id)
        await self.enter_room(sid, room)
        try:
            # Read the log after entering the room, so nothing committed in between is lost; this read
            # checks membership again, which catches a removal that raced with the subscription.
            page = await projects.project_events(
                self.deps, user_id, project_id, after if after is not None else 0, REPLAY_MAX + 1
            )
        except errors.DomainError:
            await self.leave_room(sid, room)
            raise
        if self.order is not None:
            # What this socket read: live events go on from here, in seq order (realtime/ordering.py).
            self.order.joined(project_id, page.last_seq)
        missed = page.events if after is not None else []
        truncated = len(missed) > REPLAY_MAX
        return {
            "project_id": project_id,
            "last_event_id": page.last_id,
            "missed": [e.as_dict() for e in missed[:REPLAY_MAX]],
            "truncated": truncated,
        }

    @event(UnsubscribeSchema)
    async def on_unsubscribe(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Stop receiving a project's events."""
        user_id, _ = await self.caller(sid)
        await self.leave_room(sid, member_room(data["project_id"], user_id))
        return {}
