"""Format v1 contract: manifest parsing, version policy, column names and value encodings.

Everything that both readers (mounted folder and HTTP) must agree on lives here, so
the two cannot drift apart.  The manifest is parsed into frozen dataclasses; unknown
fields are ignored (a minor version may add some), missing required ones are errors.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .errors import FormatError, FormatVersionError

#: Highest format major version this client understands.
SUPPORTED_MAJOR = 1
#: Version string the reference writer in :mod:`logit_cache.testing` emits.
FORMAT_VERSION = "1.0"

COLUMNS = ("sample_id", "input_ids", "topk_ids", "topk_logprobs")
VALUE_ENCODINGS = ("f32", "f16", "bf16", "q8")
INDEX_TYPES = ("uint16", "uint32")
CODECS = ("lz4", "zstd", "none")


def check_format_version(version: Any, where: str = "dataset") -> Tuple[int, int]:
    """Parse ``"major.minor"`` and refuse majors newer than :data:`SUPPORTED_MAJOR`.

    Minor versions only add optional fields, so any ``1.x`` is readable; a new major
    may change the meaning of existing bytes, and silently mis-reading log-probs would
    corrupt a training run, so it is refused with both versions in the message.
    """
    if not isinstance(version, str):
        raise FormatError(f"{where}: formatVersion must be a string like '1.0', got {version!r}")
    parts = version.split(".")
    try:
        major = int(parts[0])
        minor = int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise FormatError(f"{where}: formatVersion {version!r} is not 'major.minor'") from None
    if major > SUPPORTED_MAJOR:
        raise FormatVersionError(
            f"{where}: formatVersion {version} is newer than this client supports "
            f"({SUPPORTED_MAJOR}.x); upgrade the logit-cache Python client"
        )
    if major < 1:
        raise FormatError(f"{where}: formatVersion {version} is older than 1.0 and not supported")
    return major, minor


def _req(obj: Mapping[str, Any], key: str, kind: Union[type, Tuple[type, ...]], where: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise FormatError(f"{where}: missing required field '{key}'")
    value = obj[key]
    # bool is an int subclass; a JSON true where a count belongs is a writer bug.
    if isinstance(value, bool) and kind is not bool:
        raise FormatError(f"{where}: field '{key}' must be {kind}, got {value!r}")
    if not isinstance(value, kind):
        raise FormatError(f"{where}: field '{key}' must be {kind}, got {type(value).__name__} {value!r}")
    return value


@dataclass(frozen=True)
class BatchEntry:
    """Where one record-batch message sits in its shard and what it must hash to."""

    index: int
    offset: int
    length: int
    sha256: str
    samples: int
    tokens: int


@dataclass(frozen=True)
class ShardEntry:
    file: str
    first_batch: int
    batch_count: int
    first_sample: int
    sample_count: int
    tokens: int
    bytes: int
    sha256: str
    batches: Tuple[BatchEntry, ...]


@dataclass(frozen=True)
class TopkInfo:
    k: int
    values: str
    index_type: str
    q8_scale: Optional[float] = None


@dataclass(frozen=True)
class Manifest:
    """Parsed ``manifest.json``; ``raw`` keeps the original dict for fields we do not model."""

    format_version: str
    dataset_id: str
    topk: TopkInfo
    codec: str
    batch_size: int
    batch_count: int
    sample_count: int
    token_count: int
    vocab_size: Optional[int]
    shards: Tuple[ShardEntry, ...]
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def locate(self, batch: int) -> Tuple[ShardEntry, BatchEntry]:
        """Find the shard and block of dataset batch ``batch`` (binary search over shards)."""
        if not isinstance(batch, int) or isinstance(batch, bool):
            raise TypeError(f"dataset {self.dataset_id}: batch index must be int, got {batch!r}")
        if batch < 0 or batch >= self.batch_count:
            raise IndexError(f"dataset {self.dataset_id}: batch {batch} out of range [0, {self.batch_count})")
        lo, hi = 0, len(self.shards) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.shards[mid].first_batch <= batch:
                lo = mid
            else:
                hi = mid - 1
        shard = self.shards[lo]
        return shard, shard.batches[batch - shard.first_batch]


def parse_manifest(obj: Any, where: str = "manifest.json") -> Manifest:
    """Validate and parse a manifest dict.  The version is checked first so a v2 manifest
    with a different layout fails with the version message, not a confusing field error."""
    if not isinstance(obj, Mapping):
        raise FormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    version = _req(obj, "formatVersion", str, where)
    check_format_version(version, where)
    dataset_id = _req(obj, "datasetId", str, where)
    t = _req(obj, "topk", Mapping, where)
    k = _req(t, "k", int, f"{where} topk")
    values = _req(t, "values", str, f"{where} topk")
    index_type = _req(t, "indexType", str, f"{where} topk")
    if k < 1:
        raise FormatError(f"{where}: topk.k must be >= 1, got {k}")
    if values not in VALUE_ENCODINGS:
        raise FormatError(f"{where}: topk.values {values!r} is not one of {VALUE_ENCODINGS}")
    if index_type not in INDEX_TYPES:
        raise FormatError(f"{where}: topk.indexType {index_type!r} is not one of {INDEX_TYPES}")
    q8_scale = t.get("q8Scale")
    if values == "q8":
        if not isinstance(q8_scale, (int, float)) or isinstance(q8_scale, bool) or not q8_scale > 0:
            raise FormatError(f"{where}: topk.values is 'q8' but topk.q8Scale is {q8_scale!r} (need a number > 0)")
        q8_scale = float(q8_scale)
    codec = _req(obj, "codec", str, where)
    if codec not in CODECS:
        raise FormatError(f"{where}: codec {codec!r} is not one of {CODECS}")
    teacher = obj.get("teacher") if isinstance(obj.get("teacher"), Mapping) else {}
    vocab = teacher.get("vocabSize")
    shards: List[ShardEntry] = []
    next_batch = 0
    for si, s in enumerate(_req(obj, "shards", list, where)):
        sw = f"{where} shards[{si}]"
        first_batch = _req(s, "firstBatch", int, sw)
        if first_batch != next_batch:
            raise FormatError(f"{sw}: firstBatch {first_batch} but batches so far end at {next_batch}")
        raw_batches = _req(s, "batches", list, sw)
        batches = tuple(
            BatchEntry(
                index=first_batch + bi,
                offset=_req(b, "offset", int, f"{sw} batches[{bi}]"),
                length=_req(b, "length", int, f"{sw} batches[{bi}]"),
                sha256=_req(b, "sha256", str, f"{sw} batches[{bi}]").lower(),
                samples=_req(b, "samples", int, f"{sw} batches[{bi}]"),
                tokens=_req(b, "tokens", int, f"{sw} batches[{bi}]"),
            )
            for bi, b in enumerate(raw_batches)
        )
        batch_count = _req(s, "batchCount", int, sw)
        if batch_count != len(batches):
            raise FormatError(f"{sw}: batchCount {batch_count} but {len(batches)} batch entries")
        shards.append(
            ShardEntry(
                file=_req(s, "file", str, sw),
                first_batch=first_batch,
                batch_count=batch_count,
                first_sample=_req(s, "firstSample", int, sw),
                sample_count=_req(s, "sampleCount", int, sw),
                tokens=_req(s, "tokens", int, sw),
                bytes=_req(s, "bytes", int, sw),
                sha256=_req(s, "sha256", str, sw).lower(),
                batches=batches,
            )
        )
        next_batch += batch_count
    batch_count = _req(obj, "batchCount", int, where)
    if batch_count != next_batch:
        raise FormatError(f"{where}: batchCount {batch_count} but shards hold {next_batch} batches")
    return Manifest(
        format_version=version,
        dataset_id=dataset_id,
        topk=TopkInfo(k=k, values=values, index_type=index_type, q8_scale=q8_scale),
        codec=codec,
        batch_size=_req(obj, "batchSize", int, where),
        batch_count=batch_count,
        sample_count=_req(obj, "sampleCount", int, where),
        token_count=_req(obj, "tokenCount", int, where),
        vocab_size=vocab if isinstance(vocab, int) and not isinstance(vocab, bool) else None,
        shards=tuple(shards),
        raw=dict(obj),
    )


def load_manifest(dataset_dir: Union[str, Path]) -> Manifest:
    """Read ``<dataset_dir>/manifest.json``.  No manifest means the writer has not committed."""
    path = Path(dataset_dir) / "manifest.json"
    if not path.is_file():
        raise FormatError(f"{dataset_dir}: no manifest.json, so not a (finished) logit-cache dataset")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FormatError(f"{path}: not valid JSON: {e}") from None
    return parse_manifest(obj, str(path))


#: Schema-level metadata keys the TypeScript writer sets on every shard (and so on every
#: served stream's schema message).
META_FORMAT_VERSION = "logit_cache.format_version"
META_K = "logit_cache.k"
META_VALUES = "logit_cache.values"


def check_schema_metadata(metadata: Optional[Mapping[bytes, bytes]], manifest: Manifest, where: str) -> None:
    """Cross-check a shard schema's ``logit_cache.*`` metadata with the manifest, when present.

    The manifest is the contract, so missing keys are tolerated; but a shard stamped with
    a newer major version, or with another k / value encoding than the manifest claims,
    would be decoded wrongly, so those are refused.
    """
    meta = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in (metadata or {}).items()}
    if META_FORMAT_VERSION in meta:
        check_format_version(meta[META_FORMAT_VERSION], where)
    if META_K in meta and meta[META_K] != str(manifest.topk.k):
        raise FormatError(f"{where}: schema says k={meta[META_K]}, manifest topk.k={manifest.topk.k}")
    if META_VALUES in meta and meta[META_VALUES] != manifest.topk.values:
        raise FormatError(f"{where}: schema says values={meta[META_VALUES]!r}, manifest topk.values={manifest.topk.values!r}")
