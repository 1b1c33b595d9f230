"""logit_cache: read cached top-k teacher log-probabilities as torch batches and distil with them."""
from .errors import ChecksumError, FormatError, FormatVersionError, HttpError, LogitCacheError
from .format import Manifest, load_manifest, parse_manifest
from .reader_local import LogitCacheDataset
from .reader_http import HttpLogitCache
from .torch_data import CacheBatches, CacheIterable

__all__ = [
    "ChecksumError",
    "FormatError",
    "FormatVersionError",
    "HttpError",
    "LogitCacheError",
    "Manifest",
    "load_manifest",
    "parse_manifest",
    "LogitCacheDataset",
    "HttpLogitCache",
    "CacheBatches",
    "CacheIterable",
]
__version__ = "0.1.0"
