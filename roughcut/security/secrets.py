"""The server secret that keys code hashes: SECRET_KEY, else a random one kept in the data folder."""

from __future__ import annotations

import os
import secrets

from roughcut.config import ConfigError, Settings

MIN_SECRET_LENGTH = 32


def load_secret_key(settings: Settings) -> bytes:
    """Return the secret as bytes, creating `DATA_DIR/secret_key` on first use when SECRET_KEY is unset."""
    if settings.secret_key:
        if len(settings.secret_key.value) < MIN_SECRET_LENGTH:
            raise ConfigError(f"SECRET_KEY: use at least {MIN_SECRET_LENGTH} characters")
        return settings.secret_key.value.encode()
    path = settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_bytes().strip()
