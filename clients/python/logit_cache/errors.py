"""Exception types.

One small hierarchy so a trainer can catch every client failure with a single
``except LogitCacheError`` while tests (and retry logic) can tell the kinds apart.
"""
from __future__ import annotations

from typing import Optional


class LogitCacheError(Exception):
    """Base class of every error raised by this package."""


class FormatError(LogitCacheError):
    """The manifest or a shard does not follow format v1 (missing field, wrong type, bad length)."""


class FormatVersionError(FormatError):
    """The dataset was written by a newer, incompatible format major version."""


class ChecksumError(LogitCacheError):
    """The bytes of a record batch do not hash to the sha256 the manifest (or server) promised."""


class HttpError(LogitCacheError):
    """A non-2xx answer from a logit-cache server, carrying its ``LC_ERR_*`` code and message."""

    def __init__(self, status: int, code: Optional[str], message: str, url: str) -> None:
        self.status = status
        self.code = code
        self.server_message = message
        self.url = url
        super().__init__(f"GET {url}: HTTP {status} {code or '(no code)'}: {message}")
