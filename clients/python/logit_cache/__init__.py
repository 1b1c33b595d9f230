"""logit_cache: read cached top-k teacher log-probabilities as torch batches and distil with them."""
from .errors import (
    ChecksumError,
    DatasetNotFoundError,
    FormatError,
    FormatMigrateError,
    FormatVersionError,
    HttpError,
    LogitCacheError,
    PathOutsideRootError,
    ShardCorruptError,
    SourceError,
)
from .manifest import Manifest, load_manifest, parse_manifest
from .dataset_reader import LogitCacheDataset
from .reader_http import HttpLogitCache
from .source import FileSource, HttpRangeSource
from .torch_data import CacheBatches, CacheIterable

__all__ = [
    "ChecksumError",
    "DatasetNotFoundError",
    "FormatError",
    "FormatMigrateError",
    "FormatVersionError",
    "HttpError",
    "LogitCacheError",
    "PathOutsideRootError",
    "ShardCorruptError",
    "SourceError",
    "Manifest",
    "load_manifest",
    "parse_manifest",
    "LogitCacheDataset",
    "HttpLogitCache",
    "FileSource",
    "HttpRangeSource",
    "CacheBatches",
    "CacheIterable",
]
__version__ = "0.2.0"
