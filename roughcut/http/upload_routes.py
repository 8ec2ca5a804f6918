"""REST: uploads (API.md "Uploads"), project files, and feedback versions made from uploads."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from roughcut import keys
from roughcut.domain import project_files, sample_files, uploads
from roughcut.domain.project_files import SignedVersion
from roughcut.domain.sample_files import SignedSample
from roughcut.domain.upload_model import ProjectFile, Purpose, SampleFile, SignedFile, Upload
from roughcut.domain.uploads import StartUpload, Uploads
from roughcut.http import upload_schemas as s
from roughcut.http.feedback_schemas import VersionSchema
from roughcut.http.jsonutil import json_response
from roughcut.http.routing import ApiRoutes, path_int, read_body
from roughcut.http.security import authenticate

routes = ApiRoutes()
TAGS = ("uploads",)
FILE_TAGS = ("projects",)
VERSION_TAGS = ("feedback",)
SAMPLE_TAGS = ("uploads",)
ADMIN_TAGS = ("admin",)
VERSION = VersionSchema()


def _deps(request: web.Request) -> Uploads:
    return request.config_dict[keys.UPLOADS]


def _file(file: ProjectFile, url: str, preview_url: str | None = None) -> dict[str, Any]:
    body = uploads.file_wire(file)
    body.update(url=url, preview_url=preview_url, width=file.width, height=file.height, duration_ms=file.duration_ms)
    body.update(name=file.filename, thumbnail_url=preview_url, uploaded_by=body["uploader"], fps=file.fps)
    return body


def _sample(sample: SampleFile, url: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": sample.id, "name": sample.filename, "content_type": sample.content_type}
    body.update(size=sample.size, url=url, legacy=sample.legacy, created_at=sample.created_at)
    return body


def version_body(signed: SignedVersion) -> dict[str, Any]:
    """A feedback version as REST answers it (API.md): its video as `file`, its `poster_url`."""
    v = signed.version
    body = project_files.version_wire(v)
    body.update(file=signed.url, poster_url=signed.poster_url)
    out: dict[str, Any] = VERSION.dump(body)
    return out


def _ticket(upload: Upload, url: str | None, deps: Uploads) -> dict[str, Any]:
    body = {"id": upload.id, "strategy": upload.strategy, "url": url, "part_size": upload.part_size}
    body.update(part_count=upload.part_count, expires_at=uploads.expires_at(deps, upload.created_at))
    out: dict[str, Any] = s.UploadTicketSchema().dump(body)
    return out


@routes.route(
    "POST",
    "/uploads",
    op="startUpload",
    summary="Start an upload: a signed PUT URL (single) or a multipart upload whose parts are signed next",
    tags=TAGS,
    body=s.UploadCreate,
    responses={201: s.UploadTicketSchema},
    errors=(403, 404),
)
async def start_upload(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.UploadCreate)
    deps = _deps(request)
    data["purpose"] = Purpose(data["purpose"])
    ticket = await uploads.start_upload(deps, claims.user_id, StartUpload(**data))
    return json_response(_ticket(ticket.upload, ticket.url, deps), 201)


@routes.route(
    "POST",
    "/admin/sample-files",
    op="adminStartSampleFile",
    summary="Start the upload of a sample file (administrators): PUT its bytes, then POST /uploads/{id}/complete",
    tags=ADMIN_TAGS,
    body=s.SampleFileCreate,
    responses={201: s.UploadTicketSchema},
    errors=(403,),
)
async def start_sample(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.SampleFileCreate)
    deps = _deps(request)
    cmd = StartUpload(project_id=None, purpose=Purpose.SAMPLE_FILE, **data)
    ticket = await uploads.start_upload(deps, claims.user_id, cmd)
    return json_response(_ticket(ticket.upload, ticket.url, deps), 201)


@routes.route(
    "POST",
    "/uploads/{upload_id}/parts",
    op="signUploadParts",
    summary="Signed PUT URLs for parts of your multipart upload",
    tags=TAGS,
    body=s.PartsRequest,
    responses={200: s.PartsResponse},
    errors=(404, 409),
)
async def sign_parts(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.PartsRequest)
    signed = await uploads.sign_parts(
        _deps(request), claims.user_id, path_int(request, "upload_id"), data["part_numbers"]
    )
    return json_response({"parts": [{"part_number": n, "url": url} for n, url in signed]})


@routes.route(
    "POST",
    "/uploads/{upload_id}/complete",
    op="completeUpload",
    summary="Finish your upload: its stored size and content signature are checked (422 content_mismatch)",
    tags=TAGS,
    body=s.CompleteRequest,
    responses={200: s.CompletedUploadSchema},
    errors=(404, 409),
)
async def complete_upload(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.CompleteRequest)
    deps = _deps(request)
    parts = [(p["part_number"], p["etag"]) for p in data["parts"]]
    done = await uploads.complete_upload(deps, claims.user_id, path_int(request, "upload_id"), parts)
    u = done.upload
    body: dict[str, Any] = {"id": u.id, "project_id": u.project_id, "purpose": u.purpose, "filename": u.filename}
    body.update(content_type=u.content_type, size=u.size, status=u.status.value, file=None, sample_file=None)
    if done.sample is not None:
        url = await deps.blobs.sign_get(done.sample.key, expires_in=deps.policy.url_ttl, filename=done.sample.filename)
        body["sample_file"] = _sample(done.sample, url)
    if done.file is not None:
        url = await deps.blobs.sign_get(done.file.key, expires_in=deps.policy.url_ttl, filename=done.file.filename)
        body["file"] = _file(done.file, url)
    return json_response(s.CompletedUploadSchema().dump(body))


@routes.route(
    "DELETE",
    "/uploads/{upload_id}",
    op="abortUpload",
    summary="Abort your pending upload; nothing of it is kept",
    tags=TAGS,
    responses={204: None},
    errors=(404, 409),
)
async def abort_upload(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await uploads.abort_upload(_deps(request), claims.user_id, path_int(request, "upload_id"))
    return web.Response(status=204)


@routes.route(
    "GET",
    "/projects/{project_id}/files",
    op="listProjectFiles",
    summary="A project's files, each with a short-lived download URL",
    tags=FILE_TAGS,
    responses={200: s.FileList},
    errors=(404,),
)
async def list_files(request: web.Request) -> web.Response:
    claims = authenticate(request)
    found: list[SignedFile] = await project_files.list_files(
        _deps(request), claims.user_id, path_int(request, "project_id")
    )
    return json_response(s.FileList().dump({"items": [_file(f.file, f.url, f.preview_url) for f in found]}))


@routes.route(
    "DELETE",
    "/projects/{project_id}/files/{file_id}",
    op="deleteProjectFile",
    summary="Remove a file (its uploader, owners and managers)",
    tags=FILE_TAGS,
    responses={204: None},
    errors=(403, 404),
)
async def delete_file(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await project_files.delete_file(
        _deps(request), claims.user_id, path_int(request, "project_id"), path_int(request, "file_id")
    )
    return web.Response(status=204)


@routes.route(
    "POST",
    "/feedback/{feedback_id}/versions",
    op="addFeedbackVersion",
    summary="A new numbered version of the thread's video, from your completed feedback_version upload",
    tags=VERSION_TAGS,
    body=s.VersionCreate,
    responses={201: VersionSchema},
    errors=(403, 404, 409),
)
async def add_version(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.VersionCreate)
    deps = _deps(request)
    version = await project_files.add_version(deps, claims.user_id, path_int(request, "feedback_id"), data["upload_id"])
    (signed,) = await project_files.sign_versions(deps, [version])
    return json_response(version_body(signed), 201)


@routes.route(
    "GET",
    "/sample-files",
    op="listSampleFiles",
    summary="Global sample files (templates for project create and edit), each with a short-lived download URL",
    tags=SAMPLE_TAGS,
    responses={200: s.SampleFileList},
)
async def list_samples(request: web.Request) -> web.Response:
    authenticate(request)
    found: list[SignedSample] = await sample_files.list_samples(_deps(request))
    return json_response(s.SampleFileList().dump({"items": [_sample(f.sample, f.url) for f in found]}))


@routes.route(
    "DELETE",
    "/admin/sample-files/{sample_id}",
    op="adminDeleteSampleFile",
    summary="Remove a sample file (administrators; add one with POST /uploads, purpose sample_file)",
    tags=ADMIN_TAGS,
    responses={204: None},
    errors=(403, 404),
)
async def delete_sample(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await sample_files.delete_sample(_deps(request), claims.user_id, path_int(request, "sample_id"))
    return web.Response(status=204)
