"""Property-based fuzzing of every REST operation with schemathesis, against the real app on a real port.

Each operation of /api/v1/openapi.json is called as a logged-in user holding real ids (tests/fuzz_world.py), on
PostgreSQL + Redis and on SQLite, with a fixed seed: valid requests per the document (positive) and requests
that break it (negative). A case fails on a 5xx, an undocumented status, content type or header, a body that
does not match its schema, a negative request the server accepts, and a positive one it refuses with 422 --
unless the only fields refused are those of a rule JSON Schema cannot state, listed in INEXPRESSIBLE and written
in the document's descriptions. The calls that destroy what they touch run on victims of their own.

FUZZ_EXAMPLES raises the budget and FUZZ_SEED picks other cases for a long local run, e.g.
`FUZZ_EXAMPLES=500 FUZZ_SEED=7 make test ARGS="-k openapi_fuzz -s"`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Unsatisfiable
from marshmallow import ValidationError, fields
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import delete

from roughcut import keys
from roughcut.config import Settings
from roughcut.domain.calendar import MAX_RANGE_DAYS
from roughcut.domain.feedback_model import ANNOTATION_MAX_BYTES
from roughcut.http.api import openapi_document
from roughcut.http.feedback_schemas import ShapeSchema
from roughcut.http.security import ACCESS_COOKIE
from roughcut.storage import tables as t
from roughcut.wire.fields import RangeBound, Timestamp
from roughcut.wire.json import dumps
from tests.conftest import AppFactory
from tests.fuzz_world import VICTIMS, World, make_victims, seed
from tests.helpers import Mailbox

DEFAULT_EXAMPLES = 40  # positive cases per operation with a body or a query: about 2,000 cases on each database
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0") or 0) or DEFAULT_EXAMPLES
# Another fixed seed explores other cases (a long local run); without it every run sends the same cases.
SEED = os.environ.get("FUZZ_SEED")
NEGATIVE_SHARE = 2  # a negative case for every NEGATIVE_SHARE positive ones
PATH_ONLY_EXAMPLES = 2  # an operation whose only input is its path: our ids, nothing else to vary
# Fewer for the costly victims (an account each) and for what a few cases cover.
CAPPED = {"deleteMe": 3, "logout": 2, "signup": 6, "login": 6, "resetPassword": 6}
REQUEST_TIMEOUT = 10.0
STREAM_OPERATION = "streamProjectEvents"  # an endless text/event-stream: read to its first bytes, then closed
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]
# 422 is the one status for a request the document's schemas refuse; a positive case may get any other refusal
# that depends on stored state: a wrong code or token (400, 401), rights (403), ids (404), conflicts (409).
POSITIVE_STATUSES = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES}},
        # The caller authenticates with its own token (the world's): no generated Authorization or cookie.
        "generation": {"deterministic": True, "with-security-parameters": False},
    }
)


# ---- the rules JSON Schema cannot state ----

Body = dict[str, Any]
TIMESTAMP = Timestamp()
DAY = fields.Date()


def _parsed(fld: fields.Field[Any], value: Any) -> Any:
    """The value as the server's own field reads it; None when it refuses it (that is no cross-field matter)."""
    try:
        return fld.deserialize(value) if value is not None else None
    except ValidationError:
        return None


def _reversed(fld: fields.Field[Any], start: Any, end: Any, end_field: fields.Field[Any] | None = None) -> bool:
    a, b = _parsed(fld, start), _parsed(end_field or fld, end)
    return a is not None and b is not None and b < a


def _stages(case: Case) -> set[str]:
    stages = case.body.get("stages") if isinstance(case.body, dict) else None
    items = [s for s in stages or [] if isinstance(s, dict)]
    return {"stages"} if any(_reversed(TIMESTAMP, s.get("start_at"), s.get("end_at")) for s in items) else set()


def _stage(case: Case) -> set[str]:
    body = case.body if isinstance(case.body, dict) else {}
    return {"end_at"} if _reversed(TIMESTAMP, body.get("start_at"), body.get("end_at")) else set()


def _project_range(case: Case) -> set[str]:
    return (
        {"to"} if _reversed(RangeBound(), case.query.get("from"), case.query.get("to"), RangeBound(end=True)) else set()
    )


def _day_range(case: Case) -> set[str]:
    return {"to"} if _reversed(DAY, case.query.get("from"), case.query.get("to")) else set()


def _calendar(case: Case) -> set[str]:
    start, end = _parsed(DAY, case.query.get("from")), _parsed(DAY, case.query.get("to"))
    if start is not None and end is not None and (end < start or (end - start).days >= MAX_RANGE_DAYS):
        return {"to"}
    return set()


def _annotation(body: Body) -> set[str]:
    """The drawing's size as the server measures it (its shapes loaded, then written as JSON)."""
    shapes = body.get("annotation")
    try:
        loaded = ShapeSchema(many=True).load(shapes) if shapes else []
    except ValidationError:
        return set()
    return {"annotation"} if len(dumps([s.as_dict() for s in loaded]).encode()) > ANNOTATION_MAX_BYTES else set()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _new_comment(case: Case) -> set[str]:
    body = case.body if isinstance(case.body, dict) else {}
    at, until = body.get("at_ms"), body.get("until_ms")
    found = {"until_ms"} if _number(at) and _number(until) and until < at else set()
    return found | _annotation(body)


def _edited_comment(case: Case) -> set[str]:
    # Against the stored position too: a new at_ms after the stored until_ms, an until_ms before the stored at_ms.
    body = case.body if isinstance(case.body, dict) else {}
    moved = "at_ms" in body or "until_ms" in body
    return ({"until_ms"} if moved else set()) | _annotation(body)


def _password_change(case: Case) -> set[str]:
    return {"current_password"} if isinstance(case.body, dict) and "new_password" in case.body else set()


# operationId -> the fields a 422 on a positive case may name, for that case. Each rule is in the document:
# `end_at` not before `start_at`, `to` not before `from` (a year at most for the calendar), `until_ms` not before
# `at_ms` (also the stored one), the drawing's size in bytes, the current password.
INEXPRESSIBLE: dict[str, Callable[[Case], set[str]]] = {
    "createProject": _stages,
    "setStage": _stage,
    "listProjects": _project_range,
    "listMyMemos": _day_range,
    "listProjectMemos": _day_range,
    "getCalendar": _calendar,
    "createComment": _new_comment,
    "updateComment": _edited_comment,
    "updateMe": _password_change,
    # Uploads: the purpose's size limit and types (settings); parts within the upload's part_count, their
    # ETags; an upload of the right purpose and project (stored state the document cannot name).
    "startUpload": lambda _case: {"size", "content_type"},
    "adminStartSampleFile": lambda _case: {"size", "content_type"},
    "signUploadParts": lambda _case: {"part_numbers"},
    "completeUpload": lambda _case: {"parts"},
    "addFeedbackVersion": lambda _case: {"upload_id"},
}


# ---- real ids ----

# operationId -> the path parameter that names what it destroys: a fresh victim from the world's pool per case.
POOLED = {
    "deleteProject": "project_id",
    "removeMember": "project_id",
    "transferOwnership": "project_id",
    "deleteFeedback": "feedback_id",
    "deleteComment": "comment_id",
    "deleteMyMemo": "memo_id",
    "deleteProjectMemo": "memo_id",
    "revokeInvitation": "invitation_id",
    "acceptInvitation": "token",
    "declineInvitation": "token",
    "revokeSession": "session_id",
    "adminDeleteLearningLink": "link_id",
    "adminDeleteWebhook": "webhook_id",
    "abortUpload": "upload_id",
    "deleteProjectFile": "file_id",
    "adminDeleteSampleFile": "sample_id",
}


def path_value(op_id: str, path: str, name: str, world: World) -> Any:
    """A real value for one path parameter; a parameter the fuzzer does not know fails the test (teach it here)."""
    if POOLED.get(op_id) == name:
        return world.pools[op_id].take()
    if name == "memo_id":
        return world.project_memo_id if path.startswith("/projects/") else world.memo_id
    known = {
        "project_id": world.project_id,
        "feedback_id": world.feedback_id,
        "comment_id": world.comment_id,
        "invitation_id": world.invitation_id,
        "user_id": world.member_id,
        "token": world.invitation_token,
        "link_id": world.learning_link_id,
        "webhook_id": world.webhook_id,
        "delivery_id": NO_DEAD_DELIVERY,
        "upload_id": world.upload_id,
    }
    if name not in known:
        raise AssertionError(f"the fuzzer has no real value for {{{name}}} in {op_id}: add one in path_value")
    return known[name]


# No delivery is dead in the fuzzed world (it runs no job worker): replaying one answers 404.
NO_DEAD_DELIVERY = 2**31


# Path parameters the document enumerates: generated (every value), not replaced.
GENERATED = frozenset({"stage", "provider"})


# Who calls: the world's owner, except where the call ends the caller's session or account.
HEADER_POOLS = {"logout", "deleteMe"}


def fix_body(op_id: str, case: Case, world: World) -> None:
    """Ids inside bodies: a reply goes to the world's comment, ownership to its member; no version exists.

    A valid request carries no made-up cursor: a cursor is opaque, only a `next_cursor` this API gave out.
    """
    if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
        case.query.pop("cursor", None)
    body = case.body
    if not isinstance(body, dict):
        return
    if op_id == "createComment":
        if body.get("parent_id") is not None:
            body["parent_id"] = world.comment_id
        if body.get("version_id") is not None:
            body["version_id"] = None
    if op_id == "transferOwnership" and "user_id" in body:
        body["user_id"] = world.member_id
    if op_id == "addFeedbackVersion" and "upload_id" in body:
        body["upload_id"] = world.version_upload_id  # the first case makes version 1; the rest conflict (409)


# ---- the run ----


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    tolerated: Counter[str] = field(default_factory=Counter)  # positive cases refused for an INEXPRESSIBLE rule


def examples(op_id: str, has_input: bool, mode: GenerationMode) -> int:
    """Cases of one operation in one mode."""
    count = CAPPED.get(op_id, EXAMPLES if has_input else PATH_ONLY_EXAMPLES)
    return count if mode is GenerationMode.POSITIVE else max(1, count // NEGATIVE_SHARE)


def _has_input(operation: Any) -> bool:
    raw = operation.definition.raw
    return "requestBody" in raw or any(p.get("in") == "query" for p in raw.get("parameters", []))


def _operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


def victim_counts(doc: dict[str, Any]) -> dict[str, int]:
    """How many victims each destructive operation needs: one per case it can run."""
    counts = {}
    for ops in doc["paths"].values():
        for op in ops.values():
            op_id = op["operationId"]
            if op_id in VICTIMS:
                has_input = "requestBody" in op or any(p["in"] == "query" for p in op.get("parameters", []))
                counts[op_id] = sum(examples(op_id, has_input, mode) for mode in GenerationMode)
    return counts


def _refused_fields(response: Any) -> set[str]:
    try:
        body = response.json()
    except ValueError:
        return set()
    return set(body.get("errors") or {}) if isinstance(body, dict) else set()


def _tolerated(op_id: str, case: Case, response: Any, failure: Failure) -> bool:
    """A positive case refused with 422 for a documented rule JSON Schema cannot state, naming only its fields."""
    if type(failure).__name__ != "RejectedPositiveData" or response.status_code != 422:
        return False
    allowed = INEXPRESSIBLE.get(op_id, lambda _c: set())(case)
    refused = _refused_fields(response)
    return bool(refused) and refused <= allowed


def _stream(case: Case, base_url: str, headers: dict[str, str], report: Report, op_id: str) -> None:
    """The SSE stream: the status and media type, then closed (it never ends by itself)."""
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
    with requests.request(**kwargs, stream=True, timeout=REQUEST_TIMEOUT) as response:
        report.statuses[response.status_code] += 1
        documented = case.operation.definition.raw["responses"]
        kind = response.headers.get("Content-Type", "")
        if str(response.status_code) not in documented:
            report.failures.append(f"{op_id}: undocumented status {response.status_code}")
        elif response.status_code == 200 and not kind.startswith("text/event-stream"):
            report.failures.append(f"{op_id}: 200 as {kind}")
        elif response.status_code >= 400 and not kind.startswith("application/problem+json"):
            report.failures.append(f"{op_id}: {response.status_code} as {kind}")


def run_case(case: Case, op_id: str, world: World, base_url: str, http: requests.Session, report: Report) -> None:
    """Send one case with the world's ids and record what the checks find."""
    path = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    if path is None or path.mode is GenerationMode.POSITIVE:  # a path made invalid on purpose stays as it is
        for name in list(case.path_parameters):
            if name not in GENERATED:
                case.path_parameters[name] = path_value(op_id, case.path, name, world)
    fix_body(op_id, case, world)
    _ = case.meta  # revalidated after our edits: a negative case whose only fault we replaced is now positive
    headers = world.pools[op_id].take() if op_id in HEADER_POOLS else world.headers
    report.cases[op_id] += 1
    if op_id == STREAM_OPERATION:
        _stream(case, base_url, headers, report, op_id)
        return
    response = case.call(base_url=base_url, session=http, headers=headers, timeout=REQUEST_TIMEOUT)
    report.statuses[response.status_code] += 1
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except FailureGroup as group:
        left = [f for f in group.exceptions if not _tolerated(op_id, case, response, f)]
        if len(left) < len(group.exceptions):
            report.tolerated[op_id] += 1
        if left:
            mode = case.meta.generation.mode.value if case.meta else "?"
            titles = "; ".join(f"{f.title}: {f.message}" for f in left)
            report.failures.append(
                f"{op_id} [{mode}] -> {response.status_code} {response.text[:300]!r}\n  {titles}\n"
                f"  {case.as_curl_command(headers=headers)}"
            )


def _runner(operation: Any, mode: GenerationMode, send: Callable[[Case], None]) -> Callable[[], None]:
    """A Hypothesis test of one operation in one mode, with a fixed seed and the operation's budget."""
    op_id = operation.definition.raw["operationId"]

    @hypothesis_seed(int(SEED) if SEED else 0)
    @settings(
        max_examples=examples(op_id, _has_input(operation), mode),
        derandomize=SEED is None,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are collected, not raised
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: Case) -> None:
        send(case)

    return one


def fuzz(doc: dict[str, Any], base_url: str, world: World) -> Report:
    """Every operation, positive then negative cases, with a fixed seed; the failures are collected, not raised."""
    schema = schemathesis.openapi.from_dict(doc, config=CONFIG)
    report = Report()
    http = requests.Session()
    http.trust_env = False  # no proxy from the environment between us and 127.0.0.1
    for operation in _operations(schema):
        op_id = operation.definition.raw["operationId"]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            one = _runner(
                operation, mode, lambda case, op_id=op_id: run_case(case, op_id, world, base_url, http, report)
            )
            try:
                one()
            except Unsatisfiable:  # e.g. no negative value of a path parameter that any string satisfies
                report.skipped.append(f"{op_id} {mode.value}")
    http.close()
    return report


@pytest.fixture(params=["postgresql", "sqlite"])
def fuzz_settings(request: pytest.FixtureRequest) -> Settings:
    chosen: Settings = request.getfixturevalue("pg_settings" if request.param == "postgresql" else "sqlite_settings")
    return chosen


@pytest.mark.timeout(600)
async def test_every_operation_keeps_to_its_document(
    make_client: AppFactory, fuzz_settings: Settings, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    client = await make_client(fuzz_settings)
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc == openapi_document()
    started = time.perf_counter()
    world = await seed(client, mailbox)
    await make_victims(client, mailbox, world, victim_counts(doc))
    seeded = time.perf_counter() - started
    base_url = str(client.make_url("/api/v1"))
    try:
        report = await asyncio.to_thread(fuzz, doc, base_url, world)
    finally:  # the endpoints it registered would get the deliveries of later tests on the shared database
        async with client.app[keys.ENGINE].begin() as conn:
            await conn.execute(delete(t.webhook_endpoints))
    elapsed = time.perf_counter() - started

    every = {op["operationId"] for ops in doc["paths"].values() for op in ops.values()}
    assert set(report.cases) == every, every - set(report.cases)
    assert report.failures == [], f"{len(report.failures)} failures:\n\n" + "\n\n".join(report.failures[:40])
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    # Deep paths were reached, not only refusals.
    assert sum(n for status, n in report.statuses.items() if status < 300) > len(every)
    print(  # the budget and wall time, shown with -s
        f"\nopenapi fuzz: {sum(report.cases.values())} cases over {len(every)} operations in {elapsed:.1f}s "
        f"(seeding {seeded:.1f}s); statuses {dict(sorted(report.statuses.items()))}; skipped {report.skipped}; "
        f"refused for a rule JSON Schema cannot state {dict(report.tolerated)}"
    )


async def test_cookie_calls_without_the_csrf_header_get_a_documented_403(
    make_client: AppFactory, mailbox: Mailbox
) -> None:
    """Every unsafe call that takes a login answers 403 csrf_failed to the access cookie alone, as documented."""
    client = await make_client()
    world = await seed(client, mailbox)
    cookie = {"Cookie": f"{ACCESS_COOKIE}={world.owner['access_token']}"}
    checked = 0
    for path, operations in openapi_document()["paths"].items():
        for method, op in operations.items():
            if method not in ("post", "put", "patch", "delete") or not op["security"]:
                continue
            params = {
                p["name"]: p["schema"].get("enum", ["1"])[0] for p in op.get("parameters", []) if p["in"] == "path"
            }
            url = "/api/v1" + path.format(**params)
            resp = await client.request(method.upper(), url, json={}, headers=cookie)
            assert resp.status == 403 and (await resp.json())["code"] == "csrf_failed", (method, path)
            assert "403" in op["responses"], (method, path)
            checked += 1
    assert checked > 25
