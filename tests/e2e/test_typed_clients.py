"""The clients the front-end team generates: TypeScript types from the OpenAPI document (openapi-typescript,
used through openapi-fetch) and typed Socket.IO events from the AsyncAPI document compile under
`tsc --strict`; the AsyncAPI document passes the official parser."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from roughcut.http.api import openapi_document
from roughcut.realtime.asyncapi import asyncapi_document
from tests.e2e.test_js_client import JS_DIR, ROOT, _node

TS_DIR = ROOT / "tests" / "ts"
MODULES = JS_DIR / "node_modules"
TIMEOUT = 120.0


async def _run(*args: str) -> tuple[int, str]:
    """Run node with the arguments; its exit code and output (stdout and stderr together)."""
    proc = await asyncio.create_subprocess_exec(
        _node(), *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"node {args[0]} did not finish within {TIMEOUT:.0f} s")
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def _generate(tmp: Path) -> None:
    """Dump both documents and generate the types, as the front end's build does."""
    (tmp / "openapi.json").write_text(json.dumps(openapi_document()))
    (tmp / "asyncapi.json").write_text(json.dumps(asyncapi_document()))
    cli = MODULES / "openapi-typescript" / "bin" / "cli.js"
    code, out = await _run(str(cli), str(tmp / "openapi.json"), "-o", str(tmp / "api.d.ts"))
    assert code == 0, out
    code, out = await _run(str(JS_DIR / "socket_types.mjs"), str(tmp / "asyncapi.json"), str(tmp / "socket-events.ts"))
    assert code == 0, out


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated types, made once for the module."""
    tmp = tmp_path_factory.mktemp("ts")
    asyncio.run(_generate(tmp))
    return tmp


def _tsconfig(tmp: Path, source: Path) -> Path:
    config: dict[str, Any] = {
        "compilerOptions": {
            "strict": True,
            "noEmit": True,
            "target": "ES2022",
            "module": "ESNext",
            "moduleResolution": "Bundler",
            "lib": ["ES2022", "DOM"],
            "types": [],
            "noUncheckedIndexedAccess": True,
            "paths": {
                "@roughcut/api": [str(tmp / "api.d.ts")],
                "@roughcut/socket-events": [str(tmp / "socket-events.ts")],
                "openapi-fetch": [str(MODULES / "openapi-fetch")],
                "socket.io-client": [str(MODULES / "socket.io-client")],
            },
        },
        "files": [str(source)],
    }
    path = tmp / f"tsconfig.{source.stem}.json"
    path.write_text(json.dumps(config))
    return path


async def _tsc(tmp: Path, source: Path) -> tuple[int, str]:
    return await _run(str(MODULES / "typescript" / "bin" / "tsc"), "-p", str(_tsconfig(tmp, source)))


async def test_generated_types_compile_under_strict(generated: Path) -> None:
    code, out = await _tsc(generated, TS_DIR / "usage.ts")
    assert code == 0, out
    events = (generated / "socket-events.ts").read_text()
    for namespace in ("Root", "Chat", "Projects", "Presence"):
        assert f"export interface {namespace}ServerToClientEvents" in events
        assert f"export interface {namespace}ClientToServerEvents" in events


async def test_wrong_usage_does_not_compile(generated: Path) -> None:
    """The types are real: every line marked WRONG in tests/ts/wrong.ts is refused."""
    code, out = await _tsc(generated, TS_DIR / "wrong.ts")
    assert code != 0
    source = (TS_DIR / "wrong.ts").read_text().splitlines()
    marked = {n for n, line in enumerate(source, 1) if "// WRONG" in line}
    refused = {int(m) for m in re.findall(r"wrong\.ts\((\d+),\d+\): error TS", out)}
    assert refused == marked, out


async def test_asyncapi_document_passes_the_official_parser(tmp_path: Path) -> None:
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(asyncapi_document()))
    code, out = await _run(str(JS_DIR / "asyncapi_check.mjs"), str(path))
    assert code == 0, out
    assert json.loads(out.strip().splitlines()[-1])["errors"] == []

    broken = asyncapi_document()
    del broken["components"]  # the document as it was: refs to #/components/schemas/UserRef with no components
    path.write_text(json.dumps(broken))
    code, out = await _run(str(JS_DIR / "asyncapi_check.mjs"), str(path))
    assert code == 1
    assert "invalid-ref" in {e["code"] for e in json.loads(out.strip().splitlines()[-1])["errors"]}
