"""Settings parsing: defaults, validation with one clear line, hidden secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from roughcut.config import ConfigError, RateLimit, Settings


def test_embedded_default() -> None:
    s = Settings.from_env({})
    assert s.sqlite
    assert s.db_url == "sqlite+aiosqlite:///var/roughcut.db"
    assert s.redis_url == ""
    assert s.demo_user is True
    assert s.ws_compression is False


def test_production_values() -> None:
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+asyncpg://u:p@db/rc",
            "REDIS_URL": "redis://r:6379/0",
            "SMTP_URL": "smtps://user:pw@mail.example:465",
            "CORS_ORIGINS": "https://a.example, https://b.example/",
            "RATE_LOGIN": "5/30",
            "GOOGLE_CLIENT_ID": "gid",
            "GOOGLE_CLIENT_SECRET": "gsecret",
        }
    )
    assert not s.sqlite
    assert s.demo_user is False
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.rate_login == RateLimit(5, 30)
    assert set(s.social) == {"google"}
    assert s.social["google"].issuers == ("https://accounts.google.com", "accounts.google.com")


def test_secrets_are_hidden_in_repr() -> None:
    s = Settings.from_env(
        {
            "SECRET_KEY": "k" * 40,
            "SMTP_URL": "smtp://user:hunter2@mail:25",
            "SENTRY_DSN": "https://abc@sentry/1",
            "JWT_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----xyz",
            "GOOGLE_CLIENT_ID": "g",
            "GOOGLE_CLIENT_SECRET": "shh-123",
        }
    )
    text = repr(s)
    for secret in ("kkkkkkkk", "hunter2", "abc@sentry", "BEGIN PRIVATE", "shh-123"):
        assert secret not in text


def test_signup_and_per_client_login_limits() -> None:
    defaults = Settings.from_env({})
    assert defaults.rate_login_ip == RateLimit(20, 60)
    assert defaults.rate_signup == RateLimit(10, 600)
    s = Settings.from_env({"RATE_LOGIN_IP": "50/120", "RATE_SIGNUP": "3/60"})
    assert (s.rate_login_ip, s.rate_signup) == (RateLimit(50, 120), RateLimit(3, 60))
    for name in ("RATE_LOGIN_IP", "RATE_SIGNUP"):
        with pytest.raises(ConfigError, match=f"^{name}:"):
            Settings.from_env({name: "0/60"})


def test_links_in_mail_open_the_front_end_else_the_api() -> None:
    assert Settings.from_env({"PUBLIC_URL": "https://api.example.com/"}).mail_links_url == (
        "https://api.example.com/api/v1"
    )
    s = Settings.from_env({"PUBLIC_URL": "https://api.example.com", "FRONTEND_URL": "https://app.example.com/"})
    assert s.mail_links_url == "https://app.example.com"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"SMTP_URL": "smtp://"}, "SMTP_URL"),
        ({"ACCESS_TOKEN_TTL": "soon"}, "ACCESS_TOKEN_TTL"),
        ({"ACCESS_TOKEN_TTL": "5"}, "ACCESS_TOKEN_TTL"),
        ({"AUTH_COOKIE_MODE": "maybe"}, "AUTH_COOKIE_MODE"),
        ({"RATE_LOGIN": "ten"}, "RATE_LOGIN"),
        ({"CORS_ORIGINS": "app.example"}, "CORS_ORIGINS"),
        ({"FRONTEND_URL": "app.example"}, "FRONTEND_URL"),
        ({"RATE_API": "0/60"}, "RATE_API"),
        ({"RATE_API_IP": "lots"}, "RATE_API_IP"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"RESPONSE_CACHE": "sometimes"}, "RESPONSE_CACHE"),
        ({"RESPONSE_CACHE_TTL": "0"}, "RESPONSE_CACHE_TTL"),
        ({"RESPONSE_CACHE_TTL": "600", "UPLOAD_URL_TTL": "900"}, "RESPONSE_CACHE_TTL"),
        ({"RESPONSE_CACHE_SIZE": "many"}, "RESPONSE_CACHE_SIZE"),
        ({"RESPONSE_CACHE_URL": "memcached://x"}, "RESPONSE_CACHE_URL"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}:"):
        Settings.from_env(env)


def test_cli_stops_with_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "roughcut", "migrate"],
        env={"DATABASE_URL": "mysql://nope", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "roughcut: configuration error: DATABASE_URL: expected postgresql+asyncpg://... or sqlite+aiosqlite://..."
    ]


def test_trusted_proxies_are_addresses_or_networks() -> None:
    settings = Settings.from_env({"TRUSTED_PROXIES": "10.0.0.7, 172.18.0.0/16,fd00::/8"})
    assert settings.trusted_proxies == ("10.0.0.7/32", "172.18.0.0/16", "fd00::/8")
    assert Settings.from_env({}).trusted_proxies == ()
    with pytest.raises(ConfigError, match=r"^TRUSTED_PROXIES:"):
        Settings.from_env({"TRUSTED_PROXIES": "haproxy"})


def test_the_response_cache_lives_where_redis_does_unless_told() -> None:
    assert Settings.from_env({}).cache_redis_url == ""  # in process
    shared = Settings.from_env({"REDIS_URL": "redis://r:6379/0"})
    assert (shared.response_cache, shared.response_cache_ttl, shared.cache_redis_url) == (True, 60, "redis://r:6379/0")
    own = Settings.from_env({"REDIS_URL": "redis://r/0", "RESPONSE_CACHE_URL": "redis://c/1", "RESPONSE_CACHE": "0"})
    assert (own.response_cache, own.cache_redis_url) == (False, "redis://c/1")
