"""Exception types, each carrying an ``LC_ERR_*`` code.

One small hierarchy so a trainer can catch every client failure with a single
``except LogitCacheError``, while tests and retry logic tell the kinds apart by
``.code`` (the same codes the TypeScript side and the server use; see docs/ERRORS.md),
never by message text.
"""
from __future__ import annotations

from typing import Optional

#: The codes this client raises itself.  Server errors (``HttpError``) carry whatever code
#: the server sent.
MANIFEST_INVALID = "LC_ERR_MANIFEST_INVALID"
FORMAT_VERSION = "LC_ERR_FORMAT_VERSION"
FORMAT_MIGRATE = "LC_ERR_FORMAT_MIGRATE"
DATASET_NOT_FOUND = "LC_ERR_DATASET_NOT_FOUND"
SHARD_CORRUPT = "LC_ERR_SHARD_CORRUPT"
PATH_OUTSIDE_ROOT = "LC_ERR_PATH_OUTSIDE_ROOT"
SOURCE_READ = "LC_ERR_SOURCE_READ"
UNAUTHORIZED = "LC_ERR_UNAUTHORIZED"


class LogitCacheError(Exception):
    """Base class of every error raised by this package; ``code`` is an ``LC_ERR_*`` string."""

    code: str = "LC_ERR_INTERNAL"

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class FormatError(LogitCacheError):
    """The manifest or a shard does not follow the format (missing field, wrong type, bad length)."""

    code = MANIFEST_INVALID


class FormatVersionError(FormatError):
    """The dataset was written by a format major version this client does not read."""

    code = FORMAT_VERSION


class FormatMigrateError(FormatVersionError):
    """A 1.x dataset: readable again after ``logit-cache migrate <datasetDir>``."""

    code = FORMAT_MIGRATE


class DatasetNotFoundError(FormatError):
    """No manifest.json: not a (finished) dataset."""

    code = DATASET_NOT_FOUND


class ShardCorruptError(LogitCacheError):
    """A shard or index file differs from what the manifest (or index) promises:
    wrong size, wrong checksum, broken invariants.  Retrying cannot fix it."""

    code = SHARD_CORRUPT


class ChecksumError(ShardCorruptError):
    """Bytes do not hash to the sha256 the manifest, index or server promised."""


class PathOutsideRootError(LogitCacheError):
    """A file the manifest names resolves (through a symlink) outside the dataset folder."""

    code = PATH_OUTSIDE_ROOT


class SourceError(LogitCacheError):
    """A byte source could not deliver a range (I/O error, server without Range support)."""

    code = SOURCE_READ


class HttpError(LogitCacheError):
    """A non-2xx answer from a logit-cache server, carrying its ``LC_ERR_*`` code and message."""

    def __init__(self, status: int, code: Optional[str], message: str, url: str) -> None:
        self.status = status
        self.server_message = message
        self.url = url
        # A plain static server sends no code: name the failure by status in the same registry.
        fallback = UNAUTHORIZED if status in (401, 403) else SOURCE_READ
        super().__init__(f"GET {url}: HTTP {status} {code or '(no code)'}: {message}", code or fallback)
