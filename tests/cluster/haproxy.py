"""deploy/haproxy.cfg, run locally: the deployed file with only its Docker-specific lines swapped."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DEPLOY_CFG = DEPLOY / "haproxy.cfg"
COOKIE = "RCNODE"
SERVED_BY = "X-Served-By"
SERVER_LINE = re.compile(r"(?m)^(\s*server (\S+)) \S+( .*)$")


def haproxy_binary() -> str:
    """The haproxy executable; a clear failure (not a skip) when it is missing."""
    path = shutil.which("haproxy")
    if path is None:
        pytest.fail(
            "haproxy is not installed: the cluster tests need Debian's package "
            "(apt-get install haproxy; .ci/run installs it)",
            pytrace=False,
        )
    return path


def deployed_servers() -> list[str]:
    """The names of the `server` lines of deploy/haproxy.cfg (each is also its sticky cookie's value)."""
    return [match.group(2) for match in SERVER_LINE.finditer(DEPLOY_CFG.read_text())]


def _swap(text: str, pattern: str, replacement: str) -> str:
    new, count = re.subn(pattern, replacement, text)
    if count != 1:
        raise AssertionError(f"deploy/haproxy.cfg no longer has exactly one match of {pattern!r}: update {__file__}")
    return new


def local_config(port: int, nodes: Mapping[str, int]) -> str:
    """deploy/haproxy.cfg listening on 127.0.0.1:`port`, each server at 127.0.0.1:`nodes[name]`, and without
    Docker's DNS resolver. Everything else (stickiness, checks, retries, redispatch, timeouts) is the file's."""
    text = DEPLOY_CFG.read_text()
    text = _swap(text, r"(?m)^(\s*bind) :8080$", rf"\1 127.0.0.1:{port}")
    text = _swap(text, r"(?ms)^resolvers docker\n.*?\n\n", "")
    text = _swap(text, r" resolvers docker init-addr \S+", "")
    if deployed_servers() != list(nodes):
        raise AssertionError(f"deploy/haproxy.cfg has servers {deployed_servers()}, the test runs {list(nodes)}")
    return SERVER_LINE.sub(lambda m: f"{m.group(1)} 127.0.0.1:{nodes[m.group(2)]}{m.group(3)}", text)


def check(binary: str, config: Path) -> subprocess.CompletedProcess[str]:
    """`haproxy -c -f config`: HAProxy's own validation of a configuration file."""
    return subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30, check=False)
