"""Shared-prefix resolution (format 2.5, FORMAT.md §4.3) on small batches built here from the spec.

The batches are what a writer stores: full samples whose shared positions equal their owner's
(as a causal teacher's are), cut to the suffix [L, len) in every per-position column.  Resolving
must give back the full batch exactly, and every rule of §4.3 must be refused by name.
The same code on datasets written by the real TypeScript writer: test_shared_prefix.py.
"""
from __future__ import annotations

import base64

import numpy as np
import pyarrow as pa
import pytest

from logit_cache.batch import record_batch_to_tensors
from logit_cache.errors import SHARD_CORRUPT, FormatError, ShardCorruptError
from logit_cache.manifest import TopkInfo
from logit_cache.shared_prefix import META_SHARED_PREFIXES, prepare, resolve, shares_prefixes

K = 4
VOCAB = 50
BATCH = 3


def _fsl(values: np.ndarray, typ: pa.DataType) -> pa.Array:
    inner = pa.list_(pa.field("item", typ, nullable=False), K)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), typ), type=inner)


def _lists(offsets, child: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.asarray(offsets, np.int32)), child,
                                    type=pa.list_(pa.field("item", child.type, nullable=False)))


def full_samples(refs, lengths, seed=0):
    """Full samples (input_ids, ids [n,K], logprobs [n,K], tail [n]) whose positions [0, L) are
    their owner's: ``refs[s] = (owner, L)``."""
    rng = np.random.default_rng(seed)
    out = []
    for s, n in enumerate(lengths):
        x = rng.integers(0, VOCAB, n).astype(np.int32)
        ids = np.stack([rng.permutation(VOCAB)[:K] for _ in range(n)]).astype(np.uint16).reshape(n, K)
        lp = -np.sort(rng.random((n, K)).astype(np.float32) * 5, axis=1)
        tail = (-rng.random(n) * 3).astype(np.float32)
        o, L = refs[s]
        if L and o < s:  # (a reference to a later sample is a corrupt batch; nothing to copy)
            ox, oids, olp, otail = out[o]
            x[:L], ids[:L], lp[:L], tail[:L] = ox[:L], oids[:L], olp[:L], otail[:L]
        out.append((x, ids, lp, tail))
    return out


def stored_batch(samples, refs, first, meta_value=b"1"):
    """The stored record batch of samples ``first..``: prefix columns, suffix-only per-position lists."""
    rows = range(first, first + len(samples))
    L = [refs[s][1] for s in rows]
    inp_off = np.concatenate([[0], np.cumsum([len(x) for x, *_ in samples])])
    st_off = np.concatenate([[0], np.cumsum([len(x) - l for (x, *_), l in zip(samples, L)])])
    ids = np.concatenate([s[1][l:] for s, l in zip(samples, L)]).reshape(-1, K)
    lp = np.concatenate([s[2][l:] for s, l in zip(samples, L)]).reshape(-1, K)
    tail = np.concatenate([s[3][l:] for s, l in zip(samples, L)])
    meta = {b"logit_cache.format_version": b"2.5", b"logit_cache.k": str(K).encode(), b"logit_cache.values": b"f32"}
    if meta_value is not None:
        meta[META_SHARED_PREFIXES] = meta_value
    cols = {
        "sample_id": pa.array(list(rows), pa.uint64()),
        "input_ids": _lists(inp_off, pa.array(np.concatenate([s[0] for s in samples]), pa.int32())),
        "prefix_sample": pa.array([refs[s][0] for s in rows], pa.uint64()),
        "prefix_len": pa.array(L, pa.uint32()),
        "topk_ids": _lists(st_off, _fsl(ids, pa.uint16())),
        "topk_logprobs": _lists(st_off, _fsl(lp, pa.float32())),
        "topk_tail_logprob": _lists(st_off, pa.array(tail, pa.float32())),
    }
    return pa.RecordBatch.from_pydict(cols).replace_schema_metadata(meta)


TOPK = TopkInfo(k=K, values="f32", index_type="uint16", tail_mass=True)

# Samples 0..5 in two batches of 3: 1 shares with 0 in its own batch, 3 with 0 across batches,
# 4 is a root, 5 shares all its positions with 4 (stores none).
REFS = [(0, 0), (0, 5), (2, 0), (0, 7), (4, 0), (4, 6)]
LENGTHS = [9, 8, 4, 7, 10, 6]


def _setup(refs=REFS, lengths=LENGTHS, **kw):
    samples = full_samples(refs, lengths)
    batches = [stored_batch(samples[f:f + BATCH], refs, f, **kw) for f in range(0, len(samples), BATCH)]
    return samples, batches


def _resolve(batches, b, shard_first=0, reads=None):
    prepared = [prepare(rb, K, "uint16", b_ * BATCH, f"batch {b_}") for b_, rb in enumerate(batches)]

    def owner(o):
        if reads is not None:
            reads.append(o)
        return prepared[o]

    return resolve(prepared[b], b, BATCH, shard_first, owner, f"dataset d batch {b} (shards/shard-000000.arrow)")


def test_resolved_batches_equal_the_full_samples():
    samples, batches = _setup()
    for b in range(2):
        reads = []
        rb = _resolve(batches, b, reads=reads)
        assert rb.schema.names == ["sample_id", "input_ids", "topk_ids", "topk_logprobs", "topk_tail_logprob"]
        assert META_SHARED_PREFIXES not in (rb.schema.metadata or {})
        # Only other batches are asked for: batch 1's sample 3 needs batch 0, nothing needs batch 1's peers.
        assert reads == ([] if b == 0 else [0])
        got = record_batch_to_tensors(rb, TOPK)
        for r, (x, ids, lp, tail) in enumerate(samples[b * BATCH:(b + 1) * BATCH]):
            n = len(x)
            assert got["input_ids"][r, :n].tolist() == x.tolist()
            assert np.array_equal(got["topk_ids"][r, :n].numpy(), ids.astype(np.int64))
            assert np.array_equal(got["topk_logprobs"][r, :n].numpy(), lp)
            assert np.array_equal(got["topk_tail_logprob"][r, :n].numpy(), tail)
            assert int(got["attention_mask"][r].sum()) == n


def test_a_batch_without_sharers_passes_through_minus_the_prefix_columns():
    refs = [(s, 0) for s in range(3)]
    _, batches = _setup(refs, [3, 4, 5])
    rb = _resolve(batches, 0)
    assert rb.schema.names == ["sample_id", "input_ids", "topk_ids", "topk_logprobs", "topk_tail_logprob"]
    assert rb.column("topk_ids").equals(batches[0].column("topk_ids"))


def _refused(refs, lengths=LENGTHS, b=1, shard_first=0, **kw):
    _, batches = _setup(refs, lengths, **kw)
    with pytest.raises(ShardCorruptError) as e:
        _resolve(batches, b, shard_first)
    assert e.value.code == SHARD_CORRUPT
    return str(e.value)


def test_refuses_a_root_that_names_another_sample():
    refs = list(REFS)
    refs[4] = (2, 0)
    msg = _refused(refs)
    assert "sample 4" in msg and "prefix_len 0 with prefix_sample 2" in msg


def test_refuses_an_owner_that_is_not_earlier():
    refs = list(REFS)
    refs[3] = (3, 2)
    assert "sample 3: prefix_sample 3 is not an earlier sample" in _refused(refs)


def test_refuses_a_prefix_longer_than_the_sample():
    samples = full_samples(REFS, LENGTHS)
    batches = [stored_batch(samples[f:f + BATCH], REFS, f) for f in range(0, 6, BATCH)]
    # prefix_len 7 on a 6-token sample: rewritten after the fact (a full_samples copy would not fit).
    rb = batches[1]
    i = rb.schema.get_field_index("prefix_len")
    bad = rb.set_column(i, rb.schema.field(i), pa.array([7, 0, 7], pa.uint32()))
    with pytest.raises(ShardCorruptError, match=r"batch 1: sample 5: prefix_len 7 exceeds its 6 tokens"):
        prepare(bad, K, "uint16", 3, "dataset d batch 1")


def test_refuses_an_owner_that_is_not_a_root():
    refs = list(REFS)
    refs[5] = (1, 3)  # sample 1 itself shares with 0
    msg = _refused(refs)
    assert "sample 5: prefix_sample 1 is not a root" in msg and "batch 1" in msg


def test_refuses_an_owner_in_another_shard():
    assert "sample 3: prefix_sample 0 is not in this shard (it starts at sample 3)" in _refused(REFS, shard_first=3)


def test_refuses_an_owner_shorter_than_the_prefix():
    roots = [(s, 0) for s in range(6)]
    samples = full_samples(roots, LENGTHS)
    refs = list(roots)
    refs[3] = (2, 5)  # sample 2 has 4 tokens
    batches = [stored_batch(samples[0:3], refs, 0), stored_batch(samples[3:6], refs, 3)]
    prepared = [prepare(rb, K, "uint16", i * BATCH, f"batch {i}") for i, rb in enumerate(batches)]
    with pytest.raises(ShardCorruptError, match="sample 3: prefix_sample 2 has fewer tokens than prefix_len"):
        resolve(prepared[1], 1, BATCH, 0, lambda o: prepared[o], "dataset d batch 1")


def test_refuses_input_ids_that_differ_from_the_owners():
    samples, batches = _setup()
    # Change sample 3's token 2 (inside its 7 shared positions) in the stored batch.
    rb = batches[1]
    x = rb.column("input_ids").flatten().to_numpy().copy()
    x[2] = (x[2] + 1) % VOCAB
    i = rb.schema.get_field_index("input_ids")
    batches[1] = rb.set_column(i, rb.schema.field(i), _lists(rb.column("input_ids").offsets, pa.array(x, pa.int32())))
    with pytest.raises(ShardCorruptError, match=r"batch 1 .*sample 3: input_ids differ from prefix_sample 0 at position 2 within prefix_len 7"):
        _resolve(batches, 1)


def test_refuses_per_position_lists_of_the_wrong_length():
    _, batches = _setup()
    rb = batches[0]
    i = rb.schema.get_field_index("prefix_len")
    bad = rb.set_column(i, rb.schema.field(i), pa.array([0, 4, 0], pa.uint32()))  # sample 1 stores 8 - 5 positions
    with pytest.raises(ShardCorruptError, match=r"batch 0: sample 1: column topk_ids stores 3 positions, expected len\(input_ids\) - prefix_len = 8 - 4"):
        prepare(bad, K, "uint16", 0, "dataset d batch 0")


def test_refuses_missing_or_mistyped_prefix_columns():
    _, batches = _setup()
    rb = batches[0]
    i = rb.schema.get_field_index("prefix_len")
    wrong = rb.set_column(i, pa.field("prefix_len", pa.uint64()), pa.array([0, 5, 0], pa.uint64()))
    with pytest.raises(ShardCorruptError, match="non-null uint32 column prefix_len"):
        prepare(wrong, K, "uint16", 0, "batch 0")
    with pytest.raises(ShardCorruptError, match="non-null uint64 column prefix_sample"):
        prepare(rb.drop_columns(["prefix_sample"]), K, "uint16", 0, "batch 0")


def test_metadata_values():
    assert shares_prefixes({META_SHARED_PREFIXES: b"1"}, "s") is True
    assert shares_prefixes({}, "s") is False and shares_prefixes(None, "s") is False
    with pytest.raises(FormatError, match="unknown logit_cache.shared_prefixes value '2'"):
        shares_prefixes({META_SHARED_PREFIXES: b"2"}, "shard-000000.arrow")


# ctx-table (§4.2) against the suffix view: a minimal encoder (code 0 for the next input token,
# otherwise an escape to the sample's literals) and an empty table, enough to tell the views apart.

def _ctx_batch(samples, refs, first):
    rows = range(first, first + len(samples))
    L = [refs[s][1] for s in rows]
    codes, literals, lit_off = [], [], [0]
    for (x, ids, *_), l in zip(samples, L):
        lits = []
        for t in range(l, len(x)):
            c = np.full(K, 255, np.uint8)
            for r in range(K):
                if t + 1 < len(x) and ids[t, r] == x[t + 1]:
                    c[r] = 0
                else:
                    lits.append(int(ids[t, r]))
            codes.append(c)
        literals += lits
        lit_off.append(len(literals))
    codes = np.array(codes, np.uint8).reshape(-1, K)
    st_off = np.concatenate([[0], np.cumsum([len(s[0]) - l for s, l in zip(samples, L)])])
    table = pa.Codec("zstd").compress(np.array([0], "<u4").tobytes(), asbytes=True)
    meta = {b"logit_cache.format_version": b"2.5", b"logit_cache.k": str(K).encode(), b"logit_cache.values": b"f32",
            b"logit_cache.vocab_size": str(VOCAB).encode(), b"logit_cache.ids": b"ctx-table",
            b"logit_cache.ids_table": base64.b64encode(table), b"logit_cache.ids_table_size": b"4", META_SHARED_PREFIXES: b"1"}
    inp_off = np.concatenate([[0], np.cumsum([len(s[0]) for s in samples])])
    cols = {
        "sample_id": pa.array(list(rows), pa.uint64()),
        "input_ids": _lists(inp_off, pa.array(np.concatenate([s[0] for s in samples]), pa.int32())),
        "prefix_sample": pa.array([refs[s][0] for s in rows], pa.uint64()),
        "prefix_len": pa.array(L, pa.uint32()),
        # rank-major over the batch's stored positions (T = stored positions)
        "topk_id_codes": _lists(st_off, _fsl(np.ascontiguousarray(codes.T).reshape(-1), pa.uint8())),
        "topk_id_literals": _lists(lit_off, pa.array(literals, pa.uint16())),
        "topk_logprobs": _lists(st_off, _fsl(np.concatenate([s[2][l:] for s, l in zip(samples, L)]), pa.float32())),
    }
    return pa.RecordBatch.from_pydict(cols).replace_schema_metadata(meta)


def test_ctx_table_ids_decode_on_the_suffix_view_and_copy_as_ids():
    refs = [(0, 0), (0, 4), (2, 0)]
    samples = full_samples(refs, [7, 6, 3], seed=3)
    # Make the codes depend on the view: every rank-0 id is the next input token, so code 0
    # everywhere but at each sample's last position; sample 1's position 3 (its last shared one)
    # must resolve to the OWNER's next token x0[4], not its own x1[4].
    for x, ids, *_ in samples:
        ids[:-1, 0] = x[1:]
    samples[1][0][4] = (samples[0][0][4] + 1) % VOCAB
    x0, x1 = samples[0][0], samples[1][0]
    assert x1[4] != x0[4] and np.array_equal(x1[:4], x0[:4])
    samples[1][1][3] = samples[0][1][3]
    rb = _ctx_batch(samples, refs, 0)
    stored = prepare(rb, K, "uint16", 0, "batch 0")
    assert "topk_id_codes" not in stored.rb.schema.names and b"logit_cache.ids" not in stored.rb.schema.metadata
    got = record_batch_to_tensors(resolve(stored, 0, BATCH, 0, lambda o: stored, "batch 0"),
                                  TopkInfo(k=K, values="f32", index_type="uint16"))
    for r, (x, ids, *_) in enumerate(samples):
        assert np.array_equal(got["topk_ids"][r, : len(x)].numpy(), ids.astype(np.int64)), r
    assert int(got["topk_ids"][1, 3, 0]) == int(x0[4])


def test_refuses_a_prefix_sample_beyond_any_sample_id():
    _, batches = _setup()
    rb = batches[0]
    i = rb.schema.get_field_index("prefix_sample")
    bad = rb.set_column(i, rb.schema.field(i), pa.array([0, 2**64 - 1, 2], pa.uint64()))
    with pytest.raises(ShardCorruptError, match=f"sample 1: prefix_sample {2**64 - 1} is not a sample id"):
        prepare(bad, K, "uint16", 0, "dataset d batch 0")
