"""Settings: parsed once from the environment, validated, frozen; secrets hidden in repr."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A string that never shows itself in repr or str."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self.value)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` hits per `window` seconds."""

    limit: int
    window: int

    @classmethod
    def parse(cls, name: str, raw: str) -> RateLimit:
        try:
            limit_s, window_s = raw.split("/", 1)
            limit, window = int(limit_s), int(window_s)
        except ValueError:
            raise ConfigError(f"{name}: expected LIMIT/SECONDS such as 10/60, got {raw!r}") from None
        if limit < 1 or window < 1:
            raise ConfigError(f"{name}: limit and window must be positive, got {raw!r}")
        return cls(limit, window)


@dataclass(frozen=True, slots=True)
class SocialProvider:
    """One OAuth provider's client credentials and endpoints."""

    client_id: str
    client_secret: Secret
    token_url: str
    userinfo_url: str = ""
    jwks_url: str = ""
    issuers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """A revalidation endpoint from WEBHOOK_URLS: where to POST, and its `whsec_<base64>` signing secret."""

    url: str
    secret: Secret

    @property
    def ref(self) -> str:
        """How its deliveries name it: from the URL, so reordering WEBHOOK_URLS keeps pending ones right."""
        return "settings:" + hashlib.sha256(self.url.encode()).hexdigest()[:12]


_SOCIAL_DEFAULTS: dict[str, dict[str, str]] = {
    "google": {
        "token_url": "https://oauth2.googleapis.com/token",
        "userinfo_url": "",
        "jwks_url": "https://www.googleapis.com/oauth2/v3/certs",
        "issuers": "https://accounts.google.com,accounts.google.com",
    },
    "kakao": {
        "token_url": "https://kauth.kakao.com/oauth/token",
        "userinfo_url": "https://kapi.kakao.com/v2/user/me",
    },
    "naver": {
        "token_url": "https://nid.naver.com/oauth2.0/token",
        "userinfo_url": "https://openapi.naver.com/v1/nid/me",
    },
}

MIB = 1024 * 1024
GIB = 1024 * MIB
TIB = 1024 * GIB
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")
DEFAULT_VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm", "video/x-matroska")
DEFAULT_FILE_TYPES = (
    *DEFAULT_VIDEO_TYPES,
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/x-7z-compressed",
    "application/gzip",
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything roughcut reads from its environment. Build it directly in tests."""

    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "roughcut"
    public_url: str = "http://localhost:8080"
    # The front end's base URL: links in mail open its pages (`{frontend_url}/invitations/{token}`).
    frontend_url: str = ""
    secret_key: Secret = Secret("")
    jwt_private_key: Secret = Secret("")
    jwt_previous_public_keys: tuple[str, ...] = ()
    jwt_issuer: str = "roughcut"
    jwt_audience: str = "roughcut"
    access_token_ttl: int = 15 * 60
    refresh_idle_ttl: int = 14 * 24 * 3600
    refresh_absolute_ttl: int = 60 * 24 * 3600
    cookie_mode: bool = False
    # The old single-page app's endpoints (roughcut/http/legacy/), until /metrics shows it stopped calling.
    legacy_api: bool = True
    cors_origins: tuple[str, ...] = ()
    # The load balancer's addresses or networks: requests from them name the client in X-Forwarded-For.
    trusted_proxies: tuple[str, ...] = ()
    smtp_url: Secret = Secret("")
    mail_from: str = "roughcut <no-reply@roughcut.local>"
    sentry_dsn: Secret = Secret("")
    log_level: str = "INFO"
    log_json: bool = True
    ws_compression: bool = False
    # Committed batches go only to the nodes whose clients need them (false: every node hears everything).
    room_routing: bool = True
    demo_user: bool = False
    rate_login: RateLimit = RateLimit(10, 60)
    rate_login_ip: RateLimit = RateLimit(20, 60)
    rate_signup: RateLimit = RateLimit(10, 600)
    rate_email_code: RateLimit = RateLimit(10, 600)
    rate_verify: RateLimit = RateLimit(20, 600)
    rate_refresh: RateLimit = RateLimit(60, 60)
    # Every /api/v1 request, per user (a valid token) and per client address (a load balancer's clients
    # are told apart by TRUSTED_PROXIES).
    rate_api: RateLimit = RateLimit(1200, 60)
    rate_api_ip: RateLimit = RateLimit(3000, 60)
    social: Mapping[str, SocialProvider] = field(default_factory=dict)
    # Every client event of one socket on one namespace: a token bucket of this burst, refilled per second.
    socket_event_burst: int = 100
    socket_event_rate: int = 30
    chat_send_burst: int = 20
    chat_send_rate: int = 10
    chat_typing_ttl: float = 6.0
    # Presence: an entry lives this long past its node's last heartbeat, beats come every
    # `presence_heartbeat` seconds (each node also sweeps then), changes are coalesced per project
    # for `presence_window` seconds. A dead node's users are offline within ttl + heartbeat.
    presence_ttl: float = 30.0
    presence_heartbeat: float = 10.0
    presence_window: float = 1.0
    presence_away_after: float = 300.0  # a socket that sends nothing for this long counts as away (0: never)
    # The pool keeps every connection it opens (no overflow by default): SQLAlchemy closes an overflow
    # connection when it is returned to a pool holding pool_size idle ones, and under a bursty steady load
    # (32 clients of uncached reads) that closed and reopened ~3 connections a second, each paying a connect,
    # asyncpg's type introspection and a cold statement cache: 0.23 ms more CPU per read (bench/RESULTS.md).
    db_pool_size: int = 30
    db_max_overflow: int = 0
    # Admission control of REST requests (http/admission.py): at most `api_concurrency` in progress, at most
    # `api_queue` more waiting in arrival order, none waiting longer than `api_queue_timeout` seconds; past
    # either bound a 503 with Retry-After. 40 is a third more than the default pool: a read holds a connection
    # for about half its time in the handler (the token, the rate limit and the render need none), so every
    # connection stays busy with few requests queueing for one inside the pool; on one core each more only
    # lengthens every admitted request's turn. 256 waiting drain in the wait bound at ~500 reads/s, and
    # the wait bound leaves half of a 1 s budget for the request itself.
    api_concurrency: int = 40
    api_queue: int = 256
    api_queue_timeout: float = 0.5
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: Secret = Secret("")
    # The job queue (roughcut/jobs): run a worker in the server process; jobs at once per worker; how
    # often an idle worker looks for due jobs; a claim's lease, renewed while the job runs (a dead
    # worker's job is claimed again once it lapses).
    job_worker: bool = True
    job_concurrency: int = 4
    job_poll_interval: float = 1.0
    job_lease: float = 30.0
    # Uploads (API.md "Uploads"): size limits by purpose, the content types each accepts, the size past
    # which an upload is multipart and its part size (S3: parts of 5 MiB to 5 GiB, at most 10,000), how
    # long signed URLs live, and after how long an unfinished upload is aborted by the sweeper.
    upload_max_file_bytes: int = 5 * GIB
    upload_max_video_bytes: int = 20 * GIB
    upload_file_types: tuple[str, ...] = DEFAULT_FILE_TYPES
    upload_video_types: tuple[str, ...] = DEFAULT_VIDEO_TYPES
    upload_single_max_bytes: int = 64 * MIB
    upload_part_bytes: int = 16 * MIB
    upload_url_ttl: int = 3600
    upload_stale_after: int = 24 * 3600
    # Revalidation webhooks (docs/webhooks.md): endpoints besides those admins register, how long a delivery
    # is retried before it is dead, the first retry's delay (doubling, capped), one POST's time limit.
    webhook_urls: tuple[WebhookTarget, ...] = ()
    webhook_retry_for: float = 24 * 3600.0
    webhook_backoff: float = 5.0
    webhook_max_backoff: float = 3600.0
    webhook_timeout: float = 10.0
    # The response cache of hot reads (domain/read_cache.py): on or off, how long an entry lives at most (it is
    # dropped at once by the commits it depends on), in process the entries held; in Redis (RESPONSE_CACHE_URL,
    # default REDIS_URL) shared by every node, else in process.
    response_cache: bool = True
    response_cache_ttl: int = 60
    response_cache_size: int = 10_000
    response_cache_url: str = ""

    @property
    def mail_links_url(self) -> str:
        """Where links in mail point: FRONTEND_URL's pages, else the API's own resources (never a 404)."""
        return self.frontend_url or f"{self.public_url}/api/v1"

    @property
    def allowed_origins(self) -> frozenset[str]:
        """Browser origins trusted with the access cookie: CORS_ORIGINS and PUBLIC_URL's own origin."""
        public = urlsplit(self.public_url)
        return frozenset({*self.cors_origins, f"{public.scheme}://{public.netloc}"})

    @property
    def cache_redis_url(self) -> str:
        """Where the response cache lives when shared: RESPONSE_CACHE_URL, else REDIS_URL ("": in process)."""
        return self.response_cache_url or self.redis_url

    @property
    def sqlite(self) -> bool:
        """True when running on the embedded SQLite database."""
        return self.db_url.startswith("sqlite")

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL, defaulting to a SQLite file in the data folder."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'roughcut.db'}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse and validate the environment; raise ConfigError naming the first bad variable."""
        e = os.environ if env is None else env
        database_url = e.get("DATABASE_URL", "")
        if database_url and not database_url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ConfigError("DATABASE_URL: expected postgresql+asyncpg://... or sqlite+aiosqlite://...")
        redis_url = e.get("REDIS_URL", "")
        if redis_url and urlsplit(redis_url).scheme not in {"redis", "rediss", "unix"}:
            raise ConfigError("REDIS_URL: expected redis://host:port/db or rediss://...")
        smtp_url = e.get("SMTP_URL", "")
        if smtp_url and (urlsplit(smtp_url).scheme not in {"smtp", "smtps"} or not urlsplit(smtp_url).hostname):
            raise ConfigError("SMTP_URL: expected smtp://[user:pass@]host:port or smtps://...")
        public_url = e.get("PUBLIC_URL", "http://localhost:8080").rstrip("/")
        if urlsplit(public_url).scheme not in {"http", "https"}:
            raise ConfigError("PUBLIC_URL: expected an http(s) URL")
        origins = tuple(o.strip().rstrip("/") for o in e.get("CORS_ORIGINS", "").split(",") if o.strip())
        for origin in origins:
            if urlsplit(origin).scheme not in {"http", "https"}:
                raise ConfigError(f"CORS_ORIGINS: {origin!r} is not an http(s) origin")
        proxies: tuple[str, ...] = ()
        for proxy in (p.strip() for p in e.get("TRUSTED_PROXIES", "").split(",") if p.strip()):
            try:
                proxies += (str(ip_network(proxy, strict=False)),)
            except ValueError:
                raise ConfigError(f"TRUSTED_PROXIES: {proxy!r} is not an IP address or network") from None
        previous = tuple(k for k in e.get("JWT_PREVIOUS_PUBLIC_KEYS", "").split("\n\n") if k.strip())
        cache_url = e.get("RESPONSE_CACHE_URL", "")
        if cache_url and urlsplit(cache_url).scheme not in {"redis", "rediss", "unix"}:
            raise ConfigError("RESPONSE_CACHE_URL: expected redis://host:port/db or rediss://...")
        if 2 * _int(e, "RESPONSE_CACHE_TTL", 60, 1, 3600) > _int(e, "UPLOAD_URL_TTL", 3600, 60, 7 * 24 * 3600):
            raise ConfigError("RESPONSE_CACHE_TTL: at most half of UPLOAD_URL_TTL (cached threads carry signed URLs)")
        if 2 * _int(e, "PRESENCE_HEARTBEAT", 10, 1, 300) > _int(e, "PRESENCE_TTL", 30, 10, 600):
            raise ConfigError("PRESENCE_HEARTBEAT: at most half of PRESENCE_TTL (a missed beat is not a death)")
        return cls(
            data_dir=Path(e.get("DATA_DIR", "var")),
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=e.get("REDIS_PREFIX", "roughcut"),
            public_url=public_url,
            frontend_url=_url(e, "FRONTEND_URL").rstrip("/"),
            secret_key=Secret(e.get("SECRET_KEY", "")),
            jwt_private_key=Secret(e.get("JWT_PRIVATE_KEY", "")),
            jwt_previous_public_keys=previous,
            jwt_issuer=e.get("JWT_ISSUER", "roughcut"),
            jwt_audience=e.get("JWT_AUDIENCE", "roughcut"),
            access_token_ttl=_int(e, "ACCESS_TOKEN_TTL", 15 * 60, 60, 3600),
            refresh_idle_ttl=_int(e, "REFRESH_IDLE_TTL", 14 * 24 * 3600, 300, 365 * 24 * 3600),
            refresh_absolute_ttl=_int(e, "REFRESH_ABSOLUTE_TTL", 60 * 24 * 3600, 300, 365 * 24 * 3600),
            cookie_mode=_bool(e, "AUTH_COOKIE_MODE", False),
            legacy_api=_bool(e, "LEGACY_API", True),
            cors_origins=origins,
            trusted_proxies=proxies,
            smtp_url=Secret(smtp_url),
            mail_from=e.get("MAIL_FROM", "roughcut <no-reply@roughcut.local>"),
            sentry_dsn=Secret(e.get("SENTRY_DSN", "")),
            log_level=_choice(e, "LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"}),
            log_json=_bool(e, "LOG_JSON", True),
            ws_compression=_bool(e, "WS_COMPRESSION", False),
            room_routing=_bool(e, "ROOM_ROUTING", True),
            demo_user=_bool(e, "DEMO_USER", not database_url),
            rate_login=RateLimit.parse("RATE_LOGIN", e.get("RATE_LOGIN", "10/60")),
            rate_login_ip=RateLimit.parse("RATE_LOGIN_IP", e.get("RATE_LOGIN_IP", "20/60")),
            rate_signup=RateLimit.parse("RATE_SIGNUP", e.get("RATE_SIGNUP", "10/600")),
            rate_email_code=RateLimit.parse("RATE_EMAIL_CODE", e.get("RATE_EMAIL_CODE", "10/600")),
            rate_verify=RateLimit.parse("RATE_VERIFY", e.get("RATE_VERIFY", "20/600")),
            rate_refresh=RateLimit.parse("RATE_REFRESH", e.get("RATE_REFRESH", "60/60")),
            rate_api=RateLimit.parse("RATE_API", e.get("RATE_API", "1200/60")),
            rate_api_ip=RateLimit.parse("RATE_API_IP", e.get("RATE_API_IP", "3000/60")),
            social=_social(e),
            socket_event_burst=_int(e, "SOCKET_EVENT_BURST", 100, 1, 100_000),
            socket_event_rate=_int(e, "SOCKET_EVENT_RATE", 30, 1, 100_000),
            chat_send_burst=_int(e, "CHAT_SEND_BURST", 20, 1, 10_000),
            chat_send_rate=_int(e, "CHAT_SEND_RATE", 10, 1, 10_000),
            chat_typing_ttl=float(_int(e, "CHAT_TYPING_TTL", 6, 1, 60)),
            presence_ttl=float(_int(e, "PRESENCE_TTL", 30, 10, 600)),
            presence_heartbeat=float(_int(e, "PRESENCE_HEARTBEAT", 10, 1, 300)),
            presence_window=_int(e, "PRESENCE_WINDOW_MS", 1000, 0, 60_000) / 1000,
            presence_away_after=float(_int(e, "PRESENCE_AWAY_AFTER", 300, 0, 86_400)),
            db_pool_size=_int(e, "DB_POOL_SIZE", 30, 1, 500),
            db_max_overflow=_int(e, "DB_MAX_OVERFLOW", 0, 0, 500),
            api_concurrency=_int(e, "API_CONCURRENCY", 40, 1, 10_000),
            api_queue=_int(e, "API_QUEUE", 256, 0, 100_000),
            api_queue_timeout=_int(e, "API_QUEUE_TIMEOUT_MS", 500, 1, 60_000) / 1000,
            s3_bucket=e.get("S3_BUCKET", ""),
            s3_endpoint_url=_url(e, "S3_ENDPOINT_URL"),
            s3_region=e.get("S3_REGION", "us-east-1"),
            s3_access_key_id=e.get("S3_ACCESS_KEY_ID", ""),
            s3_secret_access_key=Secret(e.get("S3_SECRET_ACCESS_KEY", "")),
            job_worker=_bool(e, "JOB_WORKER", True),
            job_concurrency=_int(e, "JOB_CONCURRENCY", 4, 1, 256),
            job_poll_interval=_int(e, "JOB_POLL_MS", 1000, 50, 60_000) / 1000,
            job_lease=float(_int(e, "JOB_LEASE", 30, 3, 3600)),
            upload_max_file_bytes=_int(e, "UPLOAD_MAX_FILE_BYTES", 5 * GIB, 1, 5 * TIB),
            upload_max_video_bytes=_int(e, "UPLOAD_MAX_VIDEO_BYTES", 20 * GIB, 1, 5 * TIB),
            upload_file_types=_types(e, "UPLOAD_FILE_TYPES", DEFAULT_FILE_TYPES),
            upload_video_types=_types(e, "UPLOAD_VIDEO_TYPES", DEFAULT_VIDEO_TYPES),
            upload_single_max_bytes=_int(e, "UPLOAD_SINGLE_MAX_BYTES", 64 * MIB, 1, 5 * GIB),
            upload_part_bytes=_int(e, "UPLOAD_PART_BYTES", 16 * MIB, 5 * MIB, 5 * GIB),
            upload_url_ttl=_int(e, "UPLOAD_URL_TTL", 3600, 60, 7 * 24 * 3600),
            upload_stale_after=_int(e, "UPLOAD_STALE_AFTER", 24 * 3600, 600, 30 * 24 * 3600),
            webhook_urls=_webhooks(e.get("WEBHOOK_URLS", "")),
            webhook_retry_for=float(_int(e, "WEBHOOK_RETRY_FOR", 24 * 3600, 60, 30 * 24 * 3600)),
            webhook_backoff=_int(e, "WEBHOOK_BACKOFF_MS", 5000, 100, 600_000) / 1000,
            webhook_max_backoff=float(_int(e, "WEBHOOK_MAX_BACKOFF", 3600, 1, 24 * 3600)),
            webhook_timeout=float(_int(e, "WEBHOOK_TIMEOUT", 10, 1, 60)),
            response_cache=_bool(e, "RESPONSE_CACHE", True),
            response_cache_ttl=_int(e, "RESPONSE_CACHE_TTL", 60, 1, 3600),
            response_cache_size=_int(e, "RESPONSE_CACHE_SIZE", 10_000, 100, 10_000_000),
            response_cache_url=cache_url,
        )


def _int(e: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = e.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: must be between {lo} and {hi}, got {value}")
    return value


def _url(e: Mapping[str, str], name: str) -> str:
    raw = e.get(name, "")
    if raw and urlsplit(raw).scheme not in {"http", "https"}:
        raise ConfigError(f"{name}: expected an http(s) URL, got {raw!r}")
    return raw


def _types(e: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = e.get(name)
    if raw is None or not raw.strip():
        return default
    types = tuple(t.strip().lower() for t in raw.split(",") if t.strip())
    for t in types:
        if not _MEDIA_TYPE.fullmatch(t):
            raise ConfigError(f"{name}: {t!r} is not a media type like video/mp4")
    return types


def _webhooks(raw: str) -> tuple[WebhookTarget, ...]:
    """WEBHOOK_URLS: `URL SECRET` pairs separated by commas or new lines (a comma in a URL is %2C)."""
    targets: list[WebhookTarget] = []
    for n, entry in enumerate((x for x in re.split(r"[,\n]", raw) if x.strip()), 1):
        parts = entry.split()
        if len(parts) != 2:
            raise ConfigError(f"WEBHOOK_URLS: entry {n}: expected 'URL whsec_SECRET', got {len(parts)} words")
        url, secret = parts
        split = urlsplit(url)
        if split.scheme not in {"http", "https"} or not split.hostname:
            raise ConfigError(f"WEBHOOK_URLS: entry {n}: expected an http(s) URL with a host")
        if not secret.startswith("whsec_"):
            raise ConfigError(f"WEBHOOK_URLS: entry {n}: the secret must look like whsec_<base64>")
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise ConfigError(f"WEBHOOK_URLS: entry {n}: the secret after whsec_ is not base64") from None
        if not 24 <= len(key) <= 64:
            raise ConfigError(f"WEBHOOK_URLS: entry {n}: the secret must hold 24 to 64 bytes, not {len(key)}")
        if any(t.url == url for t in targets):
            raise ConfigError(f"WEBHOOK_URLS: entry {n}: its URL is listed twice")
        targets.append(WebhookTarget(url, Secret(secret)))
    return tuple(targets)


def _bool(e: Mapping[str, str], name: str, default: bool) -> bool:
    raw = e.get(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _choice(e: Mapping[str, str], name: str, default: str, allowed: set[str]) -> str:
    value = e.get(name, default).upper()
    if value not in allowed:
        raise ConfigError(f"{name}: expected one of {', '.join(sorted(allowed))}, got {value!r}")
    return value


def _social(e: Mapping[str, str]) -> dict[str, SocialProvider]:
    providers: dict[str, SocialProvider] = {}
    for name, defaults in _SOCIAL_DEFAULTS.items():
        prefix = name.upper()
        client_id = e.get(f"{prefix}_CLIENT_ID", "")
        if not client_id:
            continue
        issuers = e.get(f"{prefix}_ISSUERS", defaults.get("issuers", ""))
        providers[name] = SocialProvider(
            client_id=client_id,
            client_secret=Secret(e.get(f"{prefix}_CLIENT_SECRET", "")),
            token_url=e.get(f"{prefix}_TOKEN_URL", defaults["token_url"]),
            userinfo_url=e.get(f"{prefix}_USERINFO_URL", defaults.get("userinfo_url", "")),
            jwks_url=e.get(f"{prefix}_JWKS_URL", defaults.get("jwks_url", "")),
            issuers=tuple(i for i in issuers.split(",") if i),
        )
    return providers
