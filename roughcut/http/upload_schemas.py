"""Bodies and answers of uploads, project files and feedback versions (API.md "Uploads")."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from roughcut.domain.file_names import MAX_FILENAME
from roughcut.domain.upload_model import MAX_PARTS_PER_CALL, S3_MAX_PARTS, SIGNATURES, Purpose, Strategy
from roughcut.wire.fields import Id, Integer, Text, Timestamp
from roughcut.wire.schemas import UserRefSchema

MAX_DECLARED_SIZE = 5 * 1024**4  # 5 TiB: S3's largest object; the purpose's own limit is checked after
FILENAME_INPUT_MAX = 1024  # what a client may send; it is kept sanitised to its last segment, MAX_FILENAME long
ETAG_MAX = 200


PROJECT_PURPOSES = [
    Purpose.PROJECT_FILE.value,
    Purpose.FEEDBACK_VERSION.value,
]  # sample files: POST /admin/sample-files


class SampleFileCreate(Schema):
    filename = Text(
        required=True,
        nonblank=True,
        validate=validate.Length(1, FILENAME_INPUT_MAX),
        metadata={"description": f"Display name only: kept as its last path segment, at most {MAX_FILENAME}."},
    )
    size = Integer(
        required=True,
        validate=validate.Range(1, MAX_DECLARED_SIZE),
        metadata={
            "description": "Bytes; at most the purpose's limit (UPLOAD_MAX_FILE_BYTES / UPLOAD_MAX_VIDEO_BYTES; "
            "sample files: UPLOAD_MAX_FILE_BYTES)."
        },
    )
    content_type = Text(
        required=True,
        validate=validate.OneOf(sorted(SIGNATURES)),
        metadata={"description": "One of the purpose's allowed types (UPLOAD_FILE_TYPES / UPLOAD_VIDEO_TYPES)."},
    )


class UploadCreate(SampleFileCreate):
    project_id = Id(required=True)
    purpose = Text(required=True, validate=validate.OneOf(PROJECT_PURPOSES))


class UploadTicketSchema(Schema):
    id = fields.Int(required=True)
    strategy = fields.Enum(Strategy, by_value=True, required=True)
    url = fields.Str(allow_none=True, required=True, metadata={"description": "single: PUT the bytes here."})
    part_size = fields.Int(allow_none=True, required=True)
    part_count = fields.Int(required=True)
    expires_at = Timestamp(required=True)


class PartsRequest(Schema):
    part_numbers = fields.List(
        Integer(validate=validate.Range(1, S3_MAX_PARTS)),
        required=True,
        validate=validate.Length(1, MAX_PARTS_PER_CALL),
        metadata={"uniqueItems": True, "description": "Distinct part numbers, up to the upload's part_count."},
    )


class SignedPart(Schema):
    part_number = fields.Int(required=True)
    url = fields.Str(required=True)


class PartsResponse(Schema):
    parts = fields.List(fields.Nested(SignedPart), required=True)


class CompletedPart(Schema):
    part_number = Integer(required=True, validate=validate.Range(1, S3_MAX_PARTS))
    etag = Text(required=True, nonblank=True, validate=validate.Length(1, ETAG_MAX))


class CompleteRequest(Schema):
    parts = fields.List(
        fields.Nested(CompletedPart),
        load_default=list,
        validate=validate.Length(max=S3_MAX_PARTS),
        metadata={
            "description": "Multipart uploads: every part with the ETag its PUT answered, in ascending part order."
        },
    )


class ProjectFileSchema(Schema):
    id = fields.Int(required=True)
    name = fields.Str(required=True, metadata={"description": "The display name (API.md); the same as filename."})
    filename = fields.Str(required=True)
    content_type = fields.Str(required=True)
    size = fields.Int(required=True)
    uploader = fields.Nested(UserRefSchema, allow_none=True, required=True)
    uploaded_by = fields.Nested(
        UserRefSchema, allow_none=True, required=True, metadata={"description": "The same as uploader (API.md)."}
    )
    created_at = Timestamp(required=True)
    url = fields.Str(required=True, metadata={"description": "A short-lived download URL."})
    status = fields.Str(
        required=True, metadata={"description": "processing (a preview is being made), ready or failed."}
    )
    preview_url = fields.Str(allow_none=True, required=True, metadata={"description": "A WebP thumbnail or poster."})
    thumbnail_url = fields.Str(
        allow_none=True,
        required=True,
        metadata={"description": "The same as preview_url (API.md): null until processing made it."},
    )
    width = fields.Int(allow_none=True, required=True)
    height = fields.Int(allow_none=True, required=True)
    duration_ms = fields.Int(allow_none=True, required=True)
    fps = fields.Float(allow_none=True, required=True, metadata={"description": "A video's frames per second."})


class SampleFileSchema(Schema):
    id = fields.Int(required=True)
    name = fields.Str(required=True)
    content_type = fields.Str(required=True)
    size = fields.Int(allow_none=True, required=True, metadata={"description": "null when imported (unknown)."})
    url = fields.Str(required=True, metadata={"description": "A short-lived download URL."})
    legacy = fields.Bool(
        required=True, metadata={"description": "Imported from the old system (its id is not a sample file's id)."}
    )
    created_at = Timestamp(required=True)


class SampleFileList(Schema):
    items = fields.List(fields.Nested(SampleFileSchema), required=True)


class CompletedUploadSchema(Schema):
    id = fields.Int(required=True)
    project_id = fields.Int(allow_none=True, required=True)
    purpose = fields.Enum(Purpose, by_value=True, required=True)
    filename = fields.Str(required=True)
    content_type = fields.Str(required=True)
    size = fields.Int(required=True)
    status = fields.Str(required=True)
    file = fields.Nested(ProjectFileSchema, allow_none=True, required=True)
    sample_file = fields.Nested(
        SampleFileSchema, allow_none=True, load_default=None, metadata={"description": "purpose sample_file"}
    )


class FileList(Schema):
    items = fields.List(fields.Nested(ProjectFileSchema), required=True)


class VersionCreate(Schema):
    upload_id = Id(required=True)
