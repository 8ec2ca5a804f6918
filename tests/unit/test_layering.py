"""The dependency rule (DESIGN.md): the domain imports no framework; the edges and `wire` keep to their lanes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import roughcut
import roughcut.domain

FORBIDDEN = {"aiohttp", "socketio", "engineio", "sqlalchemy", "redis", "aioboto3", "marshmallow", "jwt", "argon2"}
DOMAIN = Path(roughcut.domain.__file__).parent
SOURCE_ROOT = Path(roughcut.__file__).parent.parent  # the folder holding the `roughcut` package

# Package -> roughcut packages it must never import. The edges reach storage only through the domain
# ports wired in app.py, and neither edge reaches into the other; `wire` serves both, so it imports neither.
LANES: dict[str, frozenset[str]] = {
    "roughcut.http": frozenset({"roughcut.realtime", "roughcut.storage"}),
    "roughcut.realtime": frozenset({"roughcut.http", "roughcut.storage"}),
    "roughcut.wire": frozenset({"roughcut.http", "roughcut.realtime", "roughcut.storage"}),
    # The job worker drives use cases like an edge: storage only through the ports wired in services.py.
    "roughcut.jobs": frozenset({"roughcut.http", "roughcut.realtime", "roughcut.storage"}),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_domain_imports_no_framework() -> None:
    files = sorted(DOMAIN.rglob("*.py"))
    assert len(files) >= 5
    offenders = {str(p.relative_to(DOMAIN)): sorted(_imports(p) & FORBIDDEN) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_domain_imports_only_itself_from_roughcut() -> None:
    for path in DOMAIN.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("roughcut."):
                assert node.module.startswith("roughcut.domain"), (path, node.module)


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import os\nfrom sqlalchemy import select\nimport aiohttp.web\n")
    assert _imports(sample) & FORBIDDEN == {"sqlalchemy", "aiohttp"}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _roughcut_imports(path: Path, root: Path) -> set[str]:
    """Every module a file imports by full dotted name, relative imports resolved, type-only ones included."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            # `from pkg import name` imports the module pkg.name when there is one (`from roughcut import storage`).
            folder = root.joinpath(*base.split("."))
            names.update(
                f"{base}.{alias.name}"
                for alias in node.names
                if (folder / alias.name).is_dir() or (folder / f"{alias.name}.py").is_file()
            )
    return {n for n in names if n == "roughcut" or n.startswith("roughcut.")}


def _lane_violations(root: Path, lanes: dict[str, frozenset[str]]) -> dict[str, list[str]]:
    """File -> the imports it makes that its package's lane forbids."""
    found: dict[str, list[str]] = {}
    for package, banned in lanes.items():
        for path in sorted(root.joinpath(*package.split(".")).rglob("*.py")):
            bad = sorted(
                name
                for name in _roughcut_imports(path, root)
                if any(name == b or name.startswith(b + ".") for b in banned)
            )
            if bad:
                found[str(path.relative_to(root))] = bad
    return found


@pytest.mark.parametrize("package", sorted(LANES))
def test_package_keeps_to_its_lane(package: str) -> None:
    files = list(SOURCE_ROOT.joinpath(*package.split(".")).rglob("*.py"))
    assert len(files) >= 3, package  # the package is really there and really parsed
    assert _lane_violations(SOURCE_ROOT, {package: LANES[package]}) == {}


def test_wire_imports_no_web_framework() -> None:
    wire = SOURCE_ROOT / "roughcut" / "wire"
    edges = {"aiohttp", "socketio", "engineio", "sqlalchemy", "redis"}
    assert {str(p.name): sorted(_imports(p) & edges) for p in wire.rglob("*.py") if _imports(p) & edges} == {}


def test_the_lane_checker_sees_a_planted_violation(tmp_path: Path) -> None:
    http = tmp_path / "roughcut" / "http"
    wire = tmp_path / "roughcut" / "wire"
    http.mkdir(parents=True)
    wire.mkdir()
    (tmp_path / "roughcut" / "storage").mkdir()
    (tmp_path / "roughcut" / "__init__.py").write_text("")
    (http / "__init__.py").write_text("")
    (wire / "__init__.py").write_text("")
    (http / "ok.py").write_text("from roughcut.domain import errors\nfrom roughcut.wire.json import dumps\n")
    (http / "absolute.py").write_text("import roughcut.storage.db\nfrom roughcut.storage_like import x\n")
    (http / "package.py").write_text("from roughcut import domain, storage\n")
    (http / "relative.py").write_text("from ..realtime.rooms import CHAT_NAMESPACE\n")
    (http / "typing_only.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from roughcut.storage.broker import Subscription\n"
    )
    (wire / "leak.py").write_text("from . import json\nfrom ..http.jsonutil import json_response\n")
    assert _lane_violations(tmp_path, LANES) == {
        "roughcut/http/absolute.py": ["roughcut.storage.db"],
        "roughcut/http/package.py": ["roughcut.storage"],
        "roughcut/http/relative.py": ["roughcut.realtime.rooms"],
        "roughcut/http/typing_only.py": ["roughcut.storage.broker"],
        "roughcut/wire/leak.py": ["roughcut.http.jsonutil"],
    }
