"""The management token: management routes (training, cancel, activation, data set upload) need
`Authorization: Bearer <token>`; 401 without one, 403 with a wrong one (compared in constant
time). Secure by default: with no token configured, start-up generates one and writes it to
`<data_dir>/api-token`, readable by its owner only, and logs the path, never the token.
The HTTP side (the bearer scheme, the dependency) is `app/api/dependencies.py`."""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import Forbidden, StartupError, Unauthorized
from app.core.settings import MIN_TOKEN_LENGTH, Settings
from model.files import atomic_write_bytes

logger = logging.getLogger(__name__)

TOKEN_FILE_NAME = "api-token"


@dataclass(frozen=True)
class TokenCheck:
    token: bytes | None  # None: auth turned off

    def check(self, bearer: str | None) -> None:
        """`bearer`: the token a request sent, None or "" when it sent none."""
        if self.token is None:
            return
        if not bearer:
            raise Unauthorized("this route needs the management token: Authorization: Bearer ...")
        if not hmac.compare_digest(bearer.encode(), self.token):
            raise Forbidden("the bearer token is not the management token")


def load_token_check(settings: Settings) -> TokenCheck:
    """The token from the settings, a token file, or a new one; StartupError on conflicts."""
    sources = [settings.api_token is not None, settings.api_token_file is not None]
    if settings.no_auth:
        if any(sources):
            raise StartupError("no_auth is set together with a token; choose one")
        logger.warning(
            "management routes need no token (--no-auth): anyone who can reach the "
            "port can train and activate models"
        )
        return TokenCheck(None)
    if all(sources):
        raise StartupError("api_token and api_token_file are both set; choose one")
    if settings.api_token is not None:
        return TokenCheck(settings.api_token.get_secret_value().encode())
    if settings.api_token_file is not None:
        return TokenCheck(_read_token_file(settings.api_token_file))
    return TokenCheck(_generate(settings.data_dir / TOKEN_FILE_NAME))


def _read_token_file(path: Path) -> bytes:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(f"{path}: cannot read the API token file ({exc})") from exc
    if len(token) < MIN_TOKEN_LENGTH:
        raise StartupError(f"{path}: the API token needs at least {MIN_TOKEN_LENGTH} characters")
    if path.stat().st_mode & 0o077:
        logger.warning("%s can be read by other users than its owner; chmod 600 it", path)
    return token.encode()


def _generate(path: Path) -> bytes:
    """A new token per start-up, so a leaked one dies with the process that made it."""
    token = secrets.token_urlsafe(32)
    atomic_write_bytes(path, f"{token}\n".encode(), mode=0o600)  # created 0600, never wider
    logger.info("management API token generated; read it from %s", path.resolve())
    return token.encode()
