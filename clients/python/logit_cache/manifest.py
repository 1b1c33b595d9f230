"""manifest.json (format 2.x): version policy, JSON Schema validation, parsed entries.

The repository's ``schemas/manifest.schema.json`` is the machine-checkable contract shared
with the TypeScript side; this module validates every manifest against it (``jsonschema``)
and then checks what a schema cannot say (contiguous shards, totals).  The version is
checked first, so a 1.x manifest gets the migrate hint rather than a list of schema errors.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from .errors import FormatError, FormatMigrateError, FormatVersionError
from .shared_prefix import META_SHARED_PREFIXES, shares_prefixes

#: The format major version this client reads.
SUPPORTED_MAJOR = 2
FORMAT_VERSION = "2.0"
MANIFEST_FILE = "manifest.json"
SCHEMA_FILE = "manifest.schema.json"
#: Overrides where the JSON Schema is looked up (a path to manifest.schema.json).
SCHEMA_ENV = "LOGIT_CACHE_MANIFEST_SCHEMA"
#: Shard file formats this client reads (manifest ``shardFormat``; absent means ``arrow``), with
#: the file suffix each uses.  Format 2.2 added ``parquet`` (docs/FORMAT.md).
SHARD_FORMATS = {"arrow": ".arrow", "parquet": ".parquet"}
#: Bytes a shard file holds besides its schema part and batches: Arrow's 8-byte magic and padding
#: before the schema message; Parquet's 4-byte leading "PAR1" (its tail, counted in schemaLength,
#: already includes the closing length and magic).
SHARD_LEAD = {"arrow": 8, "parquet": 4}


def check_format_version(version: Any, where: str = "dataset") -> Tuple[int, int]:
    """Parse ``"major.minor"``; refuse 1.x with the migrate hint and newer majors by name.

    Minor versions only add optional fields, so any ``2.x`` is readable; another major
    changes the meaning of bytes, and misreading log-probs silently would corrupt a
    training run.
    """
    if not isinstance(version, str):
        raise FormatError(f"{where}: formatVersion must be a string like '2.0', got {version!r}")
    parts = version.split(".")
    try:
        if len(parts) != 2:
            raise ValueError
        major, minor = int(parts[0]), int(parts[1])
    except ValueError:
        raise FormatError(f"{where}: formatVersion {version!r} is not 'major.minor'") from None
    if major == 1:
        raise FormatMigrateError(
            f"{where}: format version {version} is older than this reader (reads {SUPPORTED_MAJOR}.x); "
            f"convert it in place with `logit-cache migrate <datasetDir>`"
        )
    if major != SUPPORTED_MAJOR:
        newer = "newer" if major > SUPPORTED_MAJOR else "older"
        raise FormatVersionError(
            f"{where}: format version {version} is {newer} than this reader (reads {SUPPORTED_MAJOR}.x); "
            "use a logit-cache Python client of that version"
        )
    return major, minor


def schema_path() -> Path:
    """manifest.schema.json: ``$LOGIT_CACHE_MANIFEST_SCHEMA``, else the copy packaged at build
    time (installed client), else the repository's ``schemas/`` (a checkout)."""
    env = os.environ.get(SCHEMA_ENV)
    candidates = [Path(env)] if env else [
        Path(__file__).resolve().parent / "schemas" / SCHEMA_FILE,
        Path(__file__).resolve().parents[3] / "schemas" / SCHEMA_FILE,
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise FormatError(
        f"cannot find {SCHEMA_FILE} (looked at {', '.join(map(str, candidates))}); reinstall the logit-cache "
        f"client from the repository (its build copies schemas/{SCHEMA_FILE}) or set {SCHEMA_ENV}"
    )


@lru_cache(maxsize=4)
def _validator(path: str):
    import jsonschema

    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_manifest(obj: Any, where: str = MANIFEST_FILE) -> None:
    """Raise :class:`FormatError` naming the first offending field (a JSON path) if ``obj``
    does not match the JSON Schema."""
    import jsonschema

    validator = _validator(str(schema_path()))
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "(top level)"
        raise FormatError(f"{where}: {at}: {error.message}")


@dataclass(frozen=True)
class IndexRef:
    """The per-shard index file and the checksum that makes it trustworthy."""

    file: str
    bytes: int
    sha256: str


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
    schema_length: int
    schema_sha256: str
    index: IndexRef
    #: ``arrow`` or ``parquet``: for parquet, schemaLength/schemaSha256 cover the file's tail
    #: (footer, its length, "PAR1") at ``[bytes - schemaLength, bytes)``.
    format: str = "arrow"
    #: Format 2.5 (optional): of ``tokens``, the positions stored once in an earlier sample of the
    #: shard (the sum of ``prefix_len``), as the writer recorded it; None when not recorded
    #: (no shared prefixes, or a dataset written before the count was).
    shared_positions: Optional[int] = None

    @property
    def schema_range(self) -> Tuple[int, int]:
        """``[start, end)`` of the bytes ``schemaSha256`` covers: the Arrow schema message, or the Parquet tail."""
        if self.format == "parquet":
            return self.bytes - self.schema_length, self.bytes
        return 8, 8 + self.schema_length


@dataclass(frozen=True)
class TopkInfo:
    k: int
    values: str
    index_type: str
    q8_scale: Optional[float] = None
    #: Format 2.1: shards carry ``topk_tail_logprob`` (log of the probability outside the top-k).
    tail_mass: bool = False
    #: Format 2.3: ragged top-p lists; per position the smallest prefix of the top-k with mass
    #: >= top_p, at least min_k entries.  None for fixed-k datasets.
    top_p: Optional[float] = None
    min_k: Optional[int] = None
    #: Format 2.5: batches store each shared prefix once per shard (manifest ``topk.sharedPrefixes``).
    shared_prefixes: bool = False

    @property
    def ragged(self) -> bool:
        return self.top_p is not None


@dataclass(frozen=True)
class Manifest:
    """Parsed ``manifest.json``; ``raw`` keeps the original dict for fields not modelled here."""

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
    #: ``arrow`` (the default, formats 2.0/2.1) or ``parquet`` (format 2.2).
    shard_format: str = "arrow"
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def shard_of(self, batch: int) -> int:
        """Index in ``shards`` of the shard holding dataset batch ``batch`` (binary search)."""
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
        return lo


def _shard(s: Mapping[str, Any], shard_format: str) -> ShardEntry:
    ix = s["index"]
    return ShardEntry(
        file=s["file"], first_batch=s["firstBatch"], batch_count=s["batchCount"], first_sample=s["firstSample"],
        sample_count=s["sampleCount"], tokens=s["tokens"], bytes=s["bytes"], sha256=s["sha256"],
        schema_length=s["schemaLength"], schema_sha256=s["schemaSha256"],
        index=IndexRef(file=ix["file"], bytes=ix["bytes"], sha256=ix["sha256"]), format=shard_format,
        shared_positions=s.get("sharedPositions"),
    )


def shard_format_of(obj: Mapping[str, Any], where: str = MANIFEST_FILE) -> str:
    """The manifest's ``shardFormat`` (absent: ``arrow``); one this client does not know is refused
    by name, before schema validation, so the message says what to do rather than list schema errors."""
    fmt = obj.get("shardFormat", "arrow")
    if not isinstance(fmt, str):
        raise FormatError(f"{where}: .shardFormat must be a string such as 'parquet', got {fmt!r}")
    if fmt not in SHARD_FORMATS:
        raise FormatVersionError(
            f"{where}: shardFormat {fmt!r} is unknown to this reader (reads {', '.join(SHARD_FORMATS)}); "
            "upgrade the logit-cache Python client"
        )
    return fmt


def parse_manifest(obj: Any, where: str = MANIFEST_FILE) -> Manifest:
    """Check the version, validate against the JSON Schema, check the cross-field invariants."""
    if not isinstance(obj, Mapping):
        raise FormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    check_format_version(obj.get("formatVersion"), where)
    shard_format = shard_format_of(obj, where)
    validate_manifest(obj, where)
    shards = tuple(_shard(s, shard_format) for s in obj["shards"])
    suffix = SHARD_FORMATS[shard_format]
    next_batch = next_sample = tokens = 0
    for i, s in enumerate(shards):
        sw = f"{where} shards[{i}] ({s.file})"
        if s.first_batch != next_batch or s.first_sample != next_sample:
            raise FormatError(f"{sw}: starts at batch {s.first_batch}, sample {s.first_sample}; "
                              f"the shards before it end at batch {next_batch}, sample {next_sample}")
        if not s.file.endswith(suffix):
            raise FormatError(f"{sw}: a {shard_format} dataset's shard files end in {suffix}")
        stem = s.file[: -len(suffix)]
        if s.index.file != stem + ".idx.arrow":
            raise FormatError(f"{sw}: index file {s.index.file!r} is not {stem + '.idx.arrow'!r} (same folder, same stem)")
        if s.schema_length + SHARD_LEAD[shard_format] >= s.bytes:
            raise FormatError(f"{sw}: schemaLength {s.schema_length} does not fit in a {s.bytes}-byte file")
        next_batch += s.batch_count
        next_sample += s.sample_count
        tokens += s.tokens
    for key, total in (("batchCount", next_batch), ("sampleCount", next_sample), ("tokenCount", tokens)):
        if obj[key] != total:
            raise FormatError(f"{where}: {key} {obj[key]} but the shards hold {total}")
    t = obj["topk"]
    if "minK" in t and t["minK"] > t["k"]:
        raise FormatError(f"{where}: topk.minK {t['minK']} is more than topk.k {t['k']}")
    shared = t.get("sharedPrefixes", False)
    if not isinstance(shared, bool):
        raise FormatError(f"{where}: topk.sharedPrefixes must be true or false, got {shared!r}")
    _check_shared_counts(obj, shards, where)
    vocab = obj["teacher"].get("vocabSize")
    return Manifest(
        format_version=obj["formatVersion"],
        dataset_id=obj["datasetId"],
        topk=TopkInfo(k=t["k"], values=t["values"], index_type=t["indexType"],
                      q8_scale=float(t["q8Scale"]) if "q8Scale" in t else None,
                      tail_mass=t.get("tailMass") is True,
                      top_p=float(t["topP"]) if "topP" in t else None,
                      min_k=int(t.get("minK", 1)) if "topP" in t else None,
                      shared_prefixes=shared),
        codec=obj["codec"],
        batch_size=obj["batchSize"],
        batch_count=obj["batchCount"],
        sample_count=obj["sampleCount"],
        token_count=obj["tokenCount"],
        vocab_size=vocab,
        shards=shards,
        shard_format=shard_format,
        raw=dict(obj),
    )


def _check_shared_counts(obj: Mapping[str, Any], shards: Tuple[ShardEntry, ...], where: str) -> None:
    """The optional recorded shared-position counts hold together as the other counts do: in
    every shard or none, each at most its shard's tokens, and ``stats.sharedPositions`` their sum
    (docs/FORMAT.md 6.1).  Whether they match the stored ``prefix_len`` only decoding can tell
    (``logit-cache verify``); counts beside a manifest without ``topk.sharedPrefixes`` are left to
    the shard schema check, which refuses that manifest on the first read, naming the flag."""
    recorded = [s for s in shards if s.shared_positions is not None]
    total = obj["stats"].get("sharedPositions")
    if not recorded and total is None:
        return
    if len(recorded) != len(shards):
        raise FormatError(f"{where}: sharedPositions recorded in {len(recorded)} of {len(shards)} shards; "
                          "a writer records it in every shard or none")
    for i, s in enumerate(shards):
        if s.shared_positions > s.tokens:
            raise FormatError(f"{where} shards[{i}] ({s.file}): sharedPositions {s.shared_positions} is more than its {s.tokens} tokens")
    counted = sum(s.shared_positions for s in shards)
    if total != counted:
        raise FormatError(f"{where}: stats.sharedPositions {'absent' if total is None else total}, but the shards record {counted}")


def parse_manifest_bytes(data: bytes, where: str = MANIFEST_FILE) -> Manifest:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"{where}: not valid JSON: {e}") from None
    return parse_manifest(obj, where)


def load_manifest(path_or_url, token: Optional[str] = None) -> Manifest:
    """The manifest of a dataset folder (local path or http(s) URL of the folder)."""
    from .source import dataset_files

    files = dataset_files(path_or_url, token=token)
    return parse_manifest_bytes(files.read_whole(MANIFEST_FILE), f"{files.where}/{MANIFEST_FILE}")


#: Schema-level metadata keys the writer sets on every shard (and so on every served
#: stream's schema message).
META_FORMAT_VERSION = "logit_cache.format_version"
META_K = "logit_cache.k"
META_VALUES = "logit_cache.values"
META_F16_RANKS = "logit_cache.f16_ranks"
META_GRID_STEP = "logit_cache.grid_step"
META_TOP_P = "logit_cache.top_p"
META_MIN_K = "logit_cache.min_k"


def check_schema_metadata(metadata: Optional[Mapping[bytes, bytes]], manifest: Manifest, where: str,
                          resolved: bool = False) -> None:
    """A shard schema's ``logit_cache.*`` metadata must agree with the manifest: a shard
    stamped with another major version, k or value encoding would be decoded wrongly.
    ``resolved``: the schema of a served stream, which never declares shared prefixes (2.5): the
    server resolves them, so a stream that still declares them is refused."""
    meta = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in (metadata or {}).items()}
    for key in (META_FORMAT_VERSION, META_K, META_VALUES):
        if key not in meta:
            raise FormatError(f"{where}: shard schema has no {key} metadata")
    # Shards keep their bytes across `migrate`, so a 2.x dataset may hold shards stamped 1.x
    # (same layout); only a newer major is refused.
    version = meta[META_FORMAT_VERSION]
    major = version.split(".")[0]
    if not major.isdigit() or int(major) > SUPPORTED_MAJOR or int(major) < 1:
        check_format_version(version, where)  # raises with the version policy's message
    if meta[META_K] != str(manifest.topk.k):
        raise FormatError(f"{where}: schema says k={meta[META_K]}, manifest topk.k={manifest.topk.k}")
    if meta[META_VALUES] != manifest.topk.values:
        raise FormatError(f"{where}: schema says values={meta[META_VALUES]!r}, manifest topk.values={manifest.topk.values!r}")
    if manifest.topk.values == "rank-delta":
        # The decoding parameters travel in both places; a disagreement means a shard from another run.
        topk = manifest.raw["topk"]
        for key, field in ((META_F16_RANKS, "f16Ranks"), (META_GRID_STEP, "gridStep")):
            want = topk.get(field)
            have = meta.get(key)
            if (want is None) != (have is None) or (want is not None and float(have) != float(want)):
                raise FormatError(f"{where}: schema says {key}={have!r}, manifest topk.{field}={want!r}")
    # Ragged top-p lists (2.3): both places must say the same, or neither.
    topk = manifest.raw.get("topk", {})
    for key, field in ((META_TOP_P, "topP"), (META_MIN_K, "minK")):
        want = topk.get(field)
        have = meta.get(key)
        if (want is None) != (have is None) or (want is not None and float(have) != float(want)):
            raise FormatError(f"{where}: schema says {key}={have!r}, manifest topk.{field}={want!r}")
    # Shared prefixes (2.5): a stored shard declares them exactly when the manifest does.
    have = shares_prefixes(metadata, where)
    want = manifest.topk.shared_prefixes and not resolved
    if have != want:
        say = (f"a served stream declares {META_SHARED_PREFIXES.decode()} (the server must send resolved batches)" if resolved
               else f"schema says {META_SHARED_PREFIXES.decode()}={'1' if have else 'absent'}, manifest "
                    f"topk.sharedPrefixes={'true' if manifest.topk.shared_prefixes else 'absent'}")
        raise FormatError(f"{where}: {say}")
