"""Marshmallow schemas of the feedback API: threads, comments and the annotation drawn on a frame."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from roughcut.domain.feedback_model import (
    ANNOTATION_MAX_BYTES,
    COLOR_PATTERN,
    COMMENT_MAX,
    DESCRIPTION_MAX,
    LABEL_MAX,
    MAX_POINTS,
    MAX_SHAPES,
    TITLE_MAX,
    TWO_POINT_KINDS,
    TWO_POINTS,
    WIDTH_MAX,
    WIDTH_MIN,
    FeedbackStatus,
    Shape,
    ShapeKind,
)
from roughcut.http.common_schemas import PageQuery
from roughcut.wire.fields import Bool, Id, Integer, Text, Timestamp
from roughcut.wire.json import dumps
from roughcut.wire.schemas import UserRefSchema

# The largest integer a JavaScript client holds exactly (and far inside the database's BIGINT).
SAFE_INT_MAX = 2**53 - 1
UNIT = validate.Range(0, 1)
POSITION = validate.Range(0, SAFE_INT_MAX)
# apispec does not describe tuples; this is the JSON Schema of one [x, y] point.
POINT_DOC = {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 2, "maxItems": 2}


def _position(description: str) -> Integer:
    return Integer(allow_none=True, validate=POSITION, metadata={"description": description})


def _id(description: str) -> Id:
    return Id(allow_none=True, metadata={"description": description})


class ShapeSchema(Schema):
    kind = fields.Enum(ShapeKind, by_value=True, required=True)
    points = fields.List(
        fields.Tuple((fields.Float(validate=UNIT), fields.Float(validate=UNIT)), metadata=POINT_DOC),
        required=True,
        validate=validate.Length(1, MAX_POINTS),
        metadata={"description": "[x, y] pairs as fractions (0 to 1) of the frame; arrow, rect, ellipse take two."},
    )
    color = Text(required=True, validate=validate.Regexp(COLOR_PATTERN, error="A #RRGGBB colour."))
    width = fields.Float(required=True, validate=validate.Range(WIDTH_MIN, WIDTH_MAX))
    text = Text(allow_none=True, load_default=None, validate=validate.Length(max=LABEL_MAX))

    # What _by_kind checks, as JSON Schema: two points for arrow, rect and ellipse; a text shape needs its text.
    json_schema_extra: ClassVar[dict[str, Any]] = {
        "allOf": [
            {
                "if": {"properties": {"kind": {"enum": sorted(k.value for k in TWO_POINT_KINDS)}}},
                "then": {"properties": {"points": {"minItems": TWO_POINTS, "maxItems": TWO_POINTS}}},
            },
            {
                "if": {"properties": {"kind": {"const": ShapeKind.TEXT.value}}},
                "then": {"properties": {"text": {"type": "string", "minLength": 1}}, "required": ["text"]},
            },
        ]
    }

    @validates_schema
    def _by_kind(self, data: dict[str, Any], **_kwargs: Any) -> None:
        kind = data["kind"]
        if kind in TWO_POINT_KINDS and len(data["points"]) != TWO_POINTS:
            raise ValidationError(f"A {kind} takes exactly two points.", "points")
        if kind is ShapeKind.TEXT and not data.get("text"):
            raise ValidationError("A text shape needs its text.", "text")

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> Shape:
        return Shape(data["kind"], tuple(data["points"]), data["color"], data["width"], data["text"])


def _annotation_size(shapes: list[Shape] | None) -> None:
    if shapes is not None and len(dumps([s.as_dict() for s in shapes]).encode()) > ANNOTATION_MAX_BYTES:
        raise ValidationError(f"The drawing must stay under {ANNOTATION_MAX_BYTES} bytes of JSON.")


def _annotation() -> fields.List[Any]:
    return fields.List(
        fields.Nested(ShapeSchema),
        allow_none=True,
        validate=[validate.Length(max=MAX_SHAPES), _annotation_size],
        metadata={"description": f"A drawing on the frame: at most {MAX_SHAPES} shapes, {ANNOTATION_MAX_BYTES} bytes."},
    )


class VersionSchema(Schema):
    id = fields.Int(required=True)
    number = fields.Int(required=True)
    file = fields.Str(allow_none=True, required=True, metadata={"description": "A short-lived URL of the video."})
    duration_ms = fields.Int(allow_none=True, required=True)
    width = fields.Int(allow_none=True, required=True)
    height = fields.Int(allow_none=True, required=True)
    fps = fields.Float(allow_none=True, required=True, metadata={"description": "Frames per second."})
    poster_url = fields.Str(
        allow_none=True, required=True, metadata={"description": "A short-lived URL of the WebP poster frame (ready)."}
    )
    status = fields.Str(required=True, metadata={"description": "processing, ready or failed."})
    created_at = Timestamp(required=True)


class FeedbackSchema(Schema):
    id = fields.Int(required=True)
    project_id = fields.Int(required=True)
    title = fields.Str(required=True)
    description = fields.Str(required=True)
    status = fields.Enum(FeedbackStatus, by_value=True, required=True)
    versions = fields.List(fields.Nested(VersionSchema), required=True)
    comment_count = fields.Int(required=True)
    last_message_seq = fields.Int(required=True, metadata={"description": "The chat's newest message seq."})
    my_read_seq = fields.Int(required=True, metadata={"description": "The caller's chat read marker (0: none)."})
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class FeedbackPage(Schema):
    items = fields.List(fields.Nested(FeedbackSchema), required=True)
    next_cursor = fields.Str(allow_none=True, required=True)


class FeedbackCreate(Schema):
    title = Text(required=True, nonblank=True, validate=validate.Length(1, TITLE_MAX))
    description = Text(multiline=True, load_default="", validate=validate.Length(max=DESCRIPTION_MAX))


class FeedbackUpdate(Schema):
    title = Text(nonblank=True, validate=validate.Length(1, TITLE_MAX))
    description = Text(multiline=True, validate=validate.Length(max=DESCRIPTION_MAX))
    status = fields.Enum(FeedbackStatus, by_value=True)


class CommentEdit(Schema):
    text = Text(multiline=True, nonblank=True, validate=validate.Length(1, COMMENT_MAX))
    at_ms = _position("Where in the video, in milliseconds.")
    until_ms = _position("End of a range; needs at_ms and is not before it.")
    title = Text(validate=validate.Length(max=LABEL_MAX), metadata={"description": "Free text of old data."})
    section = Text(validate=validate.Length(max=LABEL_MAX), metadata={"description": "Free text of old data."})
    annotation = _annotation()


class CommentCreate(CommentEdit):
    text = Text(multiline=True, nonblank=True, required=True, validate=validate.Length(1, COMMENT_MAX))
    version_id = _id("A version of the same thread.")
    parent_id = _id("The comment this replies to, in the same thread.")
    anonymous = Bool(load_default=False, metadata={"description": "Hide the author from everyone else."})

    # until_ms needs at_ms (that it is not before at_ms, JSON Schema cannot say: its description does).
    json_schema_extra: ClassVar[dict[str, Any]] = {
        "if": {"properties": {"until_ms": {"type": "integer"}}, "required": ["until_ms"]},
        "then": {"properties": {"at_ms": {"type": "integer"}}, "required": ["at_ms"]},
    }


class CommentSchema(Schema):
    id = fields.Int(required=True)
    feedback_id = fields.Int(required=True)
    version_id = fields.Int(allow_none=True, required=True)
    parent_id = fields.Int(allow_none=True, required=True)
    author = fields.Nested(
        UserRefSchema, allow_none=True, required=True, metadata={"description": "Null when hidden (anonymous)."}
    )
    mine = fields.Bool(required=True, metadata={"description": "Whether the caller wrote it."})
    anonymous = fields.Bool(required=True)
    text = fields.Str(required=True)
    at_ms = fields.Int(allow_none=True, required=True)
    until_ms = fields.Int(allow_none=True, required=True)
    title = fields.Str(required=True)
    section = fields.Str(required=True)
    annotation = fields.List(fields.Nested(ShapeSchema), allow_none=True, required=True)
    resolved = fields.Bool(required=True)
    resolved_at = Timestamp(allow_none=True, required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class CommentPage(Schema):
    items = fields.List(fields.Nested(CommentSchema), required=True)
    next_cursor = fields.Str(allow_none=True, required=True)


class CommentQuery(PageQuery):
    version = Id(query=True, metadata={"description": "Only comments on this version."})


class ResolveRequest(Schema):
    resolved = Bool(load_default=True, metadata={"description": "False reopens the comment."})
