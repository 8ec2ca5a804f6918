"""`/uploads`: an uploader reports bytes sent; the project's subscribers hear `upload.progress`, throttled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from marshmallow import Schema, validate

from roughcut.domain import project_files
from roughcut.domain.ports import TokenIssuer
from roughcut.domain.project_files import ProgressThrottle
from roughcut.domain.uploads import Uploads
from roughcut.realtime.base import AUTH_EXPIRED, AuthNamespace, Payload, RealtimeDeps
from roughcut.realtime.envelope import event
from roughcut.realtime.rooms import UPLOADS_NAMESPACE
from roughcut.wire.fields import Id, Integer

MAX_BYTES = 5 * 1024**4


class ProgressSchema(Schema):
    upload_id = Id(required=True)
    bytes = Integer(required=True, validate=validate.Range(0, MAX_BYTES))


PROGRESS_PAYLOAD: dict[str, Any] = {
    "type": "object",
    "description": "On /projects, to the project's subscribers: live only (not in the event log), "
    "at most 4 a second per upload, and always the last report.",
    "required": ["project_id", "upload_id", "user_id", "bytes", "size", "at"],
    "properties": {
        "project_id": {"type": "integer"},
        "upload_id": {"type": "integer"},
        "user_id": {"type": "integer"},
        "bytes": {"type": "integer"},
        "size": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"},
    },
}


class UploadsNamespace(AuthNamespace):
    """The uploader's `progress {upload_id, bytes}`; subscribers of the project get `upload.progress` on /projects."""

    path = UPLOADS_NAMESPACE
    emits: ClassVar[Mapping[str, Payload]] = {"auth_expired": AUTH_EXPIRED}

    @classmethod
    def build(cls, deps: RealtimeDeps) -> Self:
        """The namespace of this node."""
        assert deps.uploads is not None, "uploads are wired by services.build_services"
        return cls(deps.tokens, deps.uploads)

    def __init__(self, tokens: TokenIssuer, deps: Uploads) -> None:
        super().__init__(tokens)
        self.deps = deps
        self.throttle = ProgressThrottle()

    @event(ProgressSchema)
    async def on_progress(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Bytes of your pending upload sent so far."""
        user_id, _ = await self.caller(sid)
        await project_files.report_progress(self.deps, self.throttle, user_id, data["upload_id"], data["bytes"])
        return {}
