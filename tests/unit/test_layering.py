"""The domain imports no framework (DESIGN.md dependency rule)."""

from __future__ import annotations

import ast
from pathlib import Path

import roughcut.domain

FORBIDDEN = {"aiohttp", "socketio", "engineio", "sqlalchemy", "redis", "aioboto3", "marshmallow", "jwt", "argon2"}
DOMAIN = Path(roughcut.domain.__file__).parent


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
