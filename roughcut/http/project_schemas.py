"""Marshmallow schemas of the projects API."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from roughcut.domain.project_model import SORTS, ProjectStatus, Role, StageName, StageStatus
from roughcut.http.common_schemas import PageQuery
from roughcut.wire.fields import Id, RangeBound, Text, Timestamp
from roughcut.wire.schemas import EventSchema, UserRefSchema

COLOR = validate.Regexp(r"^(#[0-9A-Fa-f]{6}|[a-z]{1,16}|)$", error="A #RRGGBB colour or a colour name.")


NOT_BEFORE_START = "Not before start_at (when both are given)."


class StageSchema(Schema):
    stage = fields.Enum(StageName, by_value=True, required=True)
    start_at = Timestamp(allow_none=True, load_default=None)
    end_at = Timestamp(allow_none=True, load_default=None, metadata={"description": NOT_BEFORE_START})
    status = fields.Enum(StageStatus, by_value=True, load_default=StageStatus.TODO)

    @validates_schema
    def _order(self, data: dict[str, object], **_kwargs: object) -> None:
        start, end = data.get("start_at"), data.get("end_at")
        if start is not None and end is not None and end < start:  # type: ignore[operator]
            raise ValidationError("Must not be before start_at.", "end_at")


class StageUpdate(Schema):
    start_at = Timestamp(allow_none=True, load_default=None)
    end_at = Timestamp(allow_none=True, load_default=None, metadata={"description": NOT_BEFORE_START})
    status = fields.Enum(StageStatus, by_value=True, required=True)


class ProjectCreate(Schema):
    name = Text(required=True, nonblank=True, validate=validate.Length(1, 100))
    manager = Text(load_default="", validate=validate.Length(max=100))
    consumer = Text(load_default="", validate=validate.Length(max=100))
    description = Text(multiline=True, load_default="", validate=validate.Length(max=5000))
    color = Text(load_default="", validate=COLOR)
    stages = fields.List(
        fields.Nested(StageSchema),
        load_default=list,
        validate=validate.Length(max=len(StageName)),
        metadata={"description": "Each stage at most once; the ones left out are scheduled later."},
    )

    # Each stage at most once (projects.full_schedule): no more than one item per stage name.
    json_schema_extra: ClassVar[dict[str, Any]] = {
        "properties": {
            "stages": {
                "allOf": [
                    {"contains": {"properties": {"stage": {"const": name.value}}}, "minContains": 0, "maxContains": 1}
                    for name in StageName
                ]
            }
        }
    }


class ProjectUpdate(Schema):
    name = Text(nonblank=True, validate=validate.Length(1, 100))
    manager = Text(validate=validate.Length(max=100))
    consumer = Text(validate=validate.Length(max=100))
    description = Text(multiline=True, validate=validate.Length(max=5000))
    color = Text(validate=COLOR)
    status = fields.Enum(ProjectStatus, by_value=True)


class ProjectSchema(Schema):
    id = fields.Int(required=True)
    name = fields.Str(required=True)
    manager = fields.Str(required=True)
    consumer = fields.Str(required=True)
    description = fields.Str(required=True)
    color = fields.Str(required=True)
    status = fields.Enum(ProjectStatus, by_value=True, required=True)
    current_stage = fields.Enum(StageName, by_value=True, required=True)
    stages = fields.List(fields.Nested(StageSchema), required=True)
    owner = fields.Nested(UserRefSchema, required=True)
    my_role = fields.Enum(Role, by_value=True, required=True)
    member_count = fields.Int(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class MemberSchema(Schema):
    user_id = fields.Int(required=True)
    nickname = fields.Str(required=True)
    email = fields.Str(required=True)
    avatar_url = fields.Str(allow_none=True)
    role = fields.Enum(Role, by_value=True, required=True)
    joined_at = Timestamp(required=True)


class InvitationSchema(Schema):
    id = fields.Int(required=True)
    email = fields.Str(required=True)
    role = fields.Enum(Role, by_value=True, required=True)
    message = fields.Str(required=True)
    status = fields.Str(required=True)
    inviter = fields.Nested(UserRefSchema, allow_none=True)
    created_at = Timestamp(required=True)
    expires_at = Timestamp(required=True)


class ProjectDetailSchema(ProjectSchema):
    members = fields.List(fields.Nested(MemberSchema), required=True)
    invitations = fields.List(fields.Nested(InvitationSchema), metadata={"description": "Owner and managers only."})


class ProjectPage(Schema):
    items = fields.List(fields.Nested(ProjectSchema), required=True)
    next_cursor = fields.Str(allow_none=True, required=True)


class ProjectQuerySchema(PageQuery):
    q = Text(validate=validate.Length(1, 100))
    stage = fields.Enum(StageName, by_value=True)
    role = fields.Enum(Role, by_value=True)
    from_ = RangeBound(data_key="from", metadata={"description": "Stages ending at or after this (a date: that day)."})
    to = RangeBound(end=True, metadata={"description": "Stages starting at or before this; not before `from`."})
    sort = Text(load_default="-updated_at", validate=validate.OneOf(SORTS))


class MemberList(Schema):
    items = fields.List(fields.Nested(MemberSchema), required=True)


class MemberPage(MemberList):
    next_cursor = fields.Str(allow_none=True, required=True)


# Roles one may give: the owner changes only by a transfer (POST /projects/{id}/transfer).
GRANTABLE_ROLES = [Role.MANAGER.value, Role.MEMBER.value]


class RoleUpdate(Schema):
    role = Text(required=True, validate=validate.OneOf(GRANTABLE_ROLES))


class TransferRequest(Schema):
    user_id = Id(required=True)


class EventQuery(Schema):
    after = Id(cursor=True, query=True, load_default=0)
    limit = fields.Int(load_default=100, validate=validate.Range(1, 500))


class EventPage(Schema):
    items = fields.List(fields.Nested(EventSchema), required=True)
    last_event_id = fields.Int(required=True)
    next_after = fields.Int(allow_none=True, required=True)


class MetadataSchema(Schema):
    title = fields.Str(required=True)
    description = fields.Str(required=True)
    image_url = fields.Str(allow_none=True, required=True)
    updated_at = Timestamp(required=True)
