"""Inference keys: optional bearer tokens for the data plane (predict, sessions, v2 infer). Off by
default: inference is open, as on a private network; set them before the port faces untrusted
clients. When set, a request needs one of them (401 without a bearer token, 403 with an unknown
one, compared in constant time), and the key is the request's owner: sessions belong to it.

Keys come from `inference_tokens` (LSTM_SERVE_INFERENCE_TOKENS, a JSON list) or
`inference_tokens_file` (one key per line; blank lines and lines starting with # ignored)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import Forbidden, StartupError, Unauthorized
from app.core.settings import MIN_TOKEN_LENGTH, Settings

Owner = str | None  # who a request acts for: a key's fingerprint, or None when keys are off


@dataclass(frozen=True)
class InferenceKeys:
    keys: tuple[bytes, ...]  # empty: inference is open

    @property
    def required(self) -> bool:
        return bool(self.keys)

    def owner(self, bearer: str | None) -> Owner:
        """The owner a request's bearer token names; None when no key is configured."""
        if not self.keys:
            return None
        if not bearer:
            raise Unauthorized("inference needs a key: Authorization: Bearer ...")
        sent = bearer.encode()
        # Every key is compared, so the time taken says nothing about which one came close.
        matches = [hmac.compare_digest(sent, key) for key in self.keys]
        if not any(matches):
            raise Forbidden("the bearer token is not an inference key")
        return fingerprint(sent)


def fingerprint(key: bytes) -> str:
    """A name for a key that does not reveal it (in session tables and logs)."""
    return hashlib.sha256(key).hexdigest()[:16]


def load_inference_keys(settings: Settings) -> InferenceKeys:
    """The configured keys; StartupError when both sources are set or a key is too short."""
    if settings.inference_tokens is not None and settings.inference_tokens_file is not None:
        raise StartupError("inference_tokens and inference_tokens_file are both set; choose one")
    if settings.inference_tokens is not None:
        keys = [token.get_secret_value() for token in settings.inference_tokens]
    elif settings.inference_tokens_file is not None:
        keys = _read_keys(settings.inference_tokens_file)
    else:
        keys = []
    return InferenceKeys(tuple(key.encode() for key in keys))


def _read_keys(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(f"{path}: cannot read the inference keys ({exc})") from exc
    keys = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise StartupError(f"{path}: no inference key in the file")
    for number, key in enumerate(keys, 1):
        if len(key) < MIN_TOKEN_LENGTH:
            raise StartupError(
                f"{path}: key {number} is shorter than {MIN_TOKEN_LENGTH} characters"
            )
    return keys
