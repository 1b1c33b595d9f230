#!/usr/bin/env python3
"""Distil the stories260k teacher into a smaller student from the logit cache, end to end.

What it does (defaults finish in about 8.5 minutes on 2 CPU cores):

1. splits ``stories.jsonl`` deterministically: the last ``--holdout`` stories are held
   out, the rest is written to a temporary JSONL;
2. precomputes the train split with the real CLI (``precompute-logits``: top-k ids and
   log-probs, f16 by default), starts ``logit-cache serve`` on a free loopback port and
   reads every training batch over HTTP with ``HttpLogitCache`` / ``CacheIterable``;
3. trains the same small causal transformer per seed.  By default every run of a seed
   starts from one shared SFT warm start (``--warm-start-steps`` 300 of next-token CE,
   the "pretrained student" BiLD is meant for) and then trains ``--steps`` more with a
   fresh optimizer on the same batches in the same order (``--warm-start-steps 0``:
   from scratch, every run from the same random init).  Runs:
     * ``sft``         cross-entropy on the real next tokens,
     * ``bild_cache_kK`` BiLD from the cached top-k (over HTTP), for the main cache
                       (``--top-k``, 8) and for each ``--extra-top-k``: same loss k, but
                       the student-led part finds more teacher values in a bigger cache
                       and imputes fewer (``--impute`` floor / tail_mean: how the rest
                       are filled; several modes give one run each, suffixed _<mode>),
     * ``bild_online`` BiLD from the teacher's full logits, computed in this process with
                       onnxruntime on the very same batches,
     * ``topk_kl_kK``  forward KL on the main cache's top-k support (with the tail bucket);
     * ``bild_online_topkK`` (diagnostic, not run by default) ``bild_loss`` on a top-K
                       taken in this process from the online teacher's float32 logits:
                       the cache's loss without its storage (f16) and transport (HTTP),
                       to tell imputation effects from cache defects;
   every distillation run adds ``--ce-weight`` (1) x the same next-token CE (0: the
   distillation loss alone);
4. evaluates on the held-out stories: top-1 agreement with the teacher's argmax and
   perplexity of the real next tokens, for every run and seed;
5. prints a table, the verdict (is cached BiLD within run-to-run noise of online BiLD,
   with z) and writes JSON (``--out``) holding all of it.

The original from-scratch, BiLD-only comparison (where cached and online BiLD differ by
~14 points of agreement, see docs/DISTILLATION.md) is
``--warm-start-steps 0 --ce-weight 0 --seeds 0 1 2 --extra-top-k 32``.

Run from the repository root after ``npx tsc -p .``::

    .venv/bin/python examples/distill_stories.py --out bench/results/distill.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[1]
try:
    import logit_cache  # noqa: F401
except ImportError:  # a plain checkout without `pip install -e clients/python`
    sys.path.insert(0, str(REPO_ROOT / "clients" / "python"))
from logit_cache import CacheIterable, HttpLogitCache  # noqa: E402
from logit_cache.losses import IMPUTE_MODES, bild_loss, bild_loss_full, topk_kl_loss  # noqa: E402
ALL_RUNS = ("sft", "bild_cache", "bild_online", "topk_kl", "bild_online_topk")
DEFAULT_RUNS = ALL_RUNS[:4]
VOCAB = 512  # stories260k; checked against the teacher's output below


# --------------------------------------------------------------------------- data

def load_stories(path: Path) -> List[List[int]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["input_ids"] for line in f if line.strip()]


def split_stories(stories: List[List[int]], holdout: int, max_train: Optional[int]):
    """Last ``holdout`` stories are held out.  A tail split (not a random one) keeps the
    split obvious and identical on every machine without carrying a seed around."""
    if not 0 < holdout < len(stories):
        raise SystemExit(f"--holdout {holdout}: need 0 < holdout < {len(stories)} stories")
    train, held = stories[:-holdout], stories[-holdout:]
    if max_train is not None:
        train = train[:max_train]
    return train, held


def write_jsonl(path: Path, rows: List[List[int]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i, ids in enumerate(rows):
            f.write(json.dumps({"id": i, "input_ids": ids}) + "\n")


def pad_batch(rows: List[List[int]], max_len: int):
    """Right-padded int64 ids and mask, like the cache's batches (pad id 0, mask 0)."""
    rows = [r[:max_len] for r in rows]
    s = max(len(r) for r in rows)
    ids = np.zeros((len(rows), s), dtype=np.int64)
    mask = np.zeros((len(rows), s), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


# --------------------------------------------------------------------------- tools

def run_precompute(args, train_jsonl: Path, root: Path, dataset_id: str, top_k: int) -> dict:
    cli = REPO_ROOT / "dist" / "cli" / "precompute-logits.js"
    cmd = [
        args.node, str(cli), "--model", str(args.teacher_dir / "model.onnx"), "--data", str(train_jsonl),
        "--out", str(root), "--dataset-id", dataset_id, "--top-k", str(top_k), "--values", args.values,
        "--batch-size", str(args.batch_size), "--max-seq-len", str(args.max_seq_len), "--quiet",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"precompute failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr.strip()}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    summary["wall_seconds"] = round(time.perf_counter() - t0, 2)
    summary["command"] = " ".join(cmd)
    return summary


@contextmanager
def serve(args, root: Path, log_path: Path) -> Iterator[str]:
    """``logit-cache serve`` as a child process on an OS-chosen loopback port; always stopped.

    ``--port 0`` lets the OS pick a free port (no probe-then-bind race); the server
    prints the port it got on stderr, which goes to a log file so a chatty server can
    never fill a pipe and stall.
    """
    cli = REPO_ROOT / "dist" / "cli" / "logit-cache.js"
    env = dict(os.environ, LOGIT_CACHE_LOG_LEVEL="warn")
    log = open(log_path, "w+", encoding="utf-8")
    proc = subprocess.Popen(
        [args.node, str(cli), "serve", "--root", str(root), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.DEVNULL, stderr=log, env=env,
    )
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None:
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise SystemExit(f"server did not report a port within 30 s: {log_path.read_text()[-2000:]}")
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log_path.read_text())
            url = m.group(1) if m else None
            if url is None:
                time.sleep(0.05)
        while True:  # listening is logged after bind; /healthz proves the routes answer
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{url}/healthz did not answer within 30 s")
            time.sleep(0.05)
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: the server's graceful shutdown
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


class Teacher:
    """The ONNX teacher in this process: what an online distillation job would run."""

    def __init__(self, model: Path, threads: int) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.log_severity_level = 3  # the model has an unused initializer ORT warns about
        self.session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        self.seconds = 0.0
        self.calls = 0

    def logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        out = self.session.run(["logits"], {"input_ids": input_ids.numpy().astype(np.int64)})[0]
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return torch.from_numpy(out)


# --------------------------------------------------------------------------- student

class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # Causal only, no padding mask: batches are right-padded, so a real position never
        # attends to a pad (pads come after it) and pad positions are masked out of losses.
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, s, d))
        return x + self.mlp(self.ln2(x))


class Student(nn.Module):
    """A small pre-LN causal transformer with tied embeddings (vocabulary = teacher's)."""

    def __init__(self, vocab: int, dim: int, layers: int, heads: int, context: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(context, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for blk in self.blocks:
            x = blk(x)
        return self.ln(x) @ self.tok.weight.T


def next_token_ce(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # The last real position has no next token: targets need both t and t+1 real.
    keep = (mask[:, 1:] * mask[:, :-1]).bool()
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    return torch.where(keep, nll, torch.zeros_like(nll)).sum() / keep.sum().clamp_min(1)


# --------------------------------------------------------------------------- train / eval

def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    p = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))  # cosine to 10 %


def run_cache_k(run: str, main_k: int) -> int:
    """Which cached k a run reads its batches from (the main cache unless it is a bild_cache_kK run)."""
    m = re.fullmatch(r"bild_cache_k(\d+)(?:_\w+)?", run)
    return int(m.group(1)) if m else main_k


def run_impute(run: str, args) -> str:
    """The imputation a bild_cache / bild_online_topk run uses: its name's suffix, else the first --impute."""
    for mode in IMPUTE_MODES:
        if run.endswith("_" + mode):
            return mode
    return args.impute[0]


def train_one(run: str, seed: int, args, cache: HttpLogitCache, teacher: Teacher,
              train_rows: List[List[int]], teacher_memo: Dict[int, torch.Tensor], checked: set,
              steps: Optional[int] = None, init_state: Optional[dict] = None, order_seed: Optional[int] = None) -> dict:
    """Train one run for ``steps`` (default ``--steps``) from the seed's fresh init, or from
    ``init_state`` (the seed's shared warm-start weights) with a fresh optimizer."""
    steps = args.steps if steps is None else steps
    torch.manual_seed(seed)  # same init for every run of this seed
    model = Student(VOCAB, args.dim, args.layers, args.heads, args.max_seq_len)
    if init_state is not None:
        model.load_state_dict(init_state)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.95))
    impute = run_impute(run, args)
    # Batch order is a function of (order seed, epoch) only, so every run of a seed sees the
    # same batches in the same order; runs that ignore the cached top-k still read
    # their tokens from it, which makes "same batches" true by construction.
    data = CacheIterable(cache, shuffle=True, seed=seed if order_seed is None else order_seed)
    imputed: List[float] = []
    losses: List[float] = []
    teacher_s0, teacher_c0 = teacher.seconds, teacher.calls
    t0 = time.perf_counter()
    data_seconds = 0.0
    step, epoch = 0, 0
    while step < steps:
        data.set_epoch(epoch)
        it = iter(data)
        while step < steps:
            t_fetch = time.perf_counter()
            batch = next(it, None)  # the HTTP GET + checksum + decode happen here
            data_seconds += time.perf_counter() - t_fetch
            if batch is None:
                break
            key = (cache.dataset_id, int(batch["batch_index"]))
            if key not in checked:  # once per distinct batch: cheap, and catches a stale cache
                check_tokens(batch, train_rows, args.max_seq_len)
                checked.add(key)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, steps, args.lr, args.warmup)
            ids, mask = batch["input_ids"], batch["attention_mask"]
            logits = model(ids)
            if run in ("sft", "warm_start"):
                loss = next_token_ce(logits, ids, mask)
            elif run.startswith("bild_cache"):
                loss, info = bild_loss(logits, batch, k=args.bild_k, temperature=args.temperature, impute=impute)
                imputed.append(float(info["imputed_fraction"]))
            elif run == "bild_online":
                full = online_logits(batch, teacher, teacher_memo, args.memo_teacher)
                loss, _ = bild_loss_full(logits, full, k=args.bild_k, temperature=args.temperature, mask=mask)
            elif run.startswith("bild_online_topk"):
                full = online_logits(batch, teacher, teacher_memo, args.memo_teacher)
                vals, top_ids = full.log_softmax(-1).topk(int(re.match(r"bild_online_topk(\d+)", run).group(1)), dim=-1)
                sim = {"topk_ids": top_ids, "topk_logprobs": vals, "attention_mask": mask}
                loss, info = bild_loss(logits, sim, k=args.bild_k, temperature=args.temperature, impute=impute)
                imputed.append(float(info["imputed_fraction"]))
            elif run.startswith("topk_kl"):
                loss = topk_kl_loss(logits, batch, tail_bucket=True)
            else:
                raise ValueError(run)
            if args.ce_weight and run not in ("sft", "warm_start"):
                # The same CE mix for every distillation run, so they stay comparable.
                loss = loss + args.ce_weight * next_token_ce(logits, ids, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            step += 1
        epoch += 1
    out = {
        "run": run, "seed": seed, "steps": step, "epochs": epoch,
        "train_seconds": round(time.perf_counter() - t0, 2),
        "data_seconds": round(data_seconds, 2),
        "cache_k": cache.k,
        "warm_started": init_state is not None,
        "final_train_loss": float(np.mean(losses[-10:])),
        "model": model,
    }
    if run.startswith("bild_online"):
        out["teacher_seconds"] = round(teacher.seconds - teacher_s0, 2)
        out["teacher_calls"] = teacher.calls - teacher_c0
    if run.startswith(("bild_cache", "bild_online_topk")):
        out["impute"] = impute
    if imputed:
        tenth = max(1, len(imputed) // 10)
        out["imputed_fraction"] = {
            "mean": float(np.mean(imputed)),
            "first_10pct": float(np.mean(imputed[:tenth])),
            "last_10pct": float(np.mean(imputed[-tenth:])),
        }
    return out


def online_logits(batch, teacher: Teacher, memo: Dict[int, torch.Tensor], use_memo: bool) -> torch.Tensor:
    """Full teacher logits for a batch, computed here.  The teacher is deterministic, so
    keeping them per distinct batch gives the same numbers as re-running every step;
    ``--no-memo-teacher`` re-runs it anyway (for honest timing)."""
    b = int(batch["batch_index"])
    full = memo.get(b)
    if full is None:
        full = teacher.logits(batch["input_ids"])
        if use_memo:
            memo[b] = full
    return full


def check_tokens(batch, train_rows: List[List[int]], max_len: int) -> None:
    """The online teacher must see exactly the tokens the cache was built from."""
    for row, sid in enumerate(batch["sample_id"].tolist()):
        n = int(batch["attention_mask"][row].sum())
        want = train_rows[sid][:max_len]
        if batch["input_ids"][row, :n].tolist() != want:
            raise SystemExit(f"cached sample {sid} differs from the train split; stale cache folder?")


def make_eval(held: List[List[int]], teacher: Teacher, max_len: int, batch_size: int):
    """Held-out batches with the teacher's argmax, computed once and shared by all runs."""
    out = []
    t_nll, t_n = 0.0, 0
    for i in range(0, len(held), batch_size):
        ids, mask = pad_batch(held[i : i + batch_size], max_len)
        logits = teacher.logits(ids)
        if logits.shape[-1] != VOCAB:
            raise SystemExit(f"teacher vocabulary {logits.shape[-1]} != {VOCAB}")
        keep = (mask[:, 1:] * mask[:, :-1]).bool()
        nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
        t_nll += float(nll[keep].sum())
        t_n += int(keep.sum())
        out.append((ids, keep, logits[:, :-1].argmax(-1)))
    return out, math.exp(t_nll / t_n), t_n


@torch.no_grad()
def evaluate(model: nn.Module, eval_batches) -> dict:
    """Over positions that have a real next token: perplexity of that token and how often
    the student's top-1 equals the teacher's top-1."""
    model.eval()
    nll_sum, agree, n = 0.0, 0, 0
    for ids, keep, t_top1 in eval_batches:
        logits = model(ids)[:, :-1]
        nll = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        nll_sum += float(nll[keep].sum())
        agree += int((logits.argmax(-1) == t_top1)[keep].sum())
        n += int(keep.sum())
    model.train()
    return {"top1_agreement": agree / n, "perplexity": math.exp(nll_sum / n), "tokens": n}


# --------------------------------------------------------------------------- report

def mean_std(xs: List[float]):
    return float(np.mean(xs)), (float(statistics.stdev(xs)) if len(xs) > 1 else float("nan"))


def summarize(results: List[dict], runs: List[str]) -> dict:
    summary = {}
    for run in runs:
        rs = [r for r in results if r["run"] == run]
        s = {"seeds": [r["seed"] for r in rs]}
        for metric in ("top1_agreement", "perplexity"):
            m, sd = mean_std([r["eval"][metric] for r in rs])
            s[metric] = {"mean": m, "std": sd, "per_seed": [r["eval"][metric] for r in rs]}
        if rs and "imputed_fraction" in rs[0]:
            s["imputed_fraction"] = {k: float(np.mean([r["imputed_fraction"][k] for r in rs]))
                                     for k in rs[0]["imputed_fraction"]}
        summary[run] = s
    cached_runs = [r for r in runs if r.startswith(("bild_cache", "bild_online_topk"))]
    if cached_runs and "bild_online" in summary:
        summary["cached_vs_online"] = {run: _compare(summary[run], summary["bild_online"]) for run in cached_runs}
    # The diagnostic's point: the same top-K loss from the cache (f16, HTTP) and from the
    # online logits (float32, in process) should agree within noise if the cache is faithful.
    pairs = {}
    for run in runs:
        m = re.fullmatch(r"bild_online_topk(\d+)(_\w+)?", run)
        twin = f"bild_cache_k{m.group(1)}{m.group(2) or ''}" if m else None
        if twin in summary:
            pairs[twin] = _compare(summary[twin], summary[run])
    if pairs:
        summary["cache_vs_inprocess_topk"] = pairs
    return summary


def verdict(summary: dict, runs: List[str], args) -> Optional[dict]:
    """The headline answer: the first cached BiLD run (main cache k, first --impute) vs online BiLD."""
    cached = next((r for r in runs if r.startswith("bild_cache")), None)
    cmp = summary.get("cached_vs_online", {}).get(cached)
    if cmp is None:
        return None
    within = [cmp[m]["within_noise"] for m in ("top1_agreement", "perplexity")]
    ok = None if None in within else all(within)
    setting = (f"warm start: {args.warm_start_steps} SFT steps per seed, then {args.steps} steps"
               if args.warm_start_steps else f"from scratch, {args.steps} steps")
    loss = f"BiLD k={args.bild_k}" + (f" + {args.ce_weight:g} x CE" if args.ce_weight else "")
    imp = summary[cached].get("imputed_fraction", {})
    text = (f"{cached} vs bild_online ({setting}; {loss}; impute={run_impute(cached, args)}; {len(args.seeds)} seeds): "
            f"agreement {cmp['top1_agreement']['cached_minus_online']:+.2%} (z {_fmt_z(cmp['top1_agreement']['z'])}), "
            f"perplexity {cmp['perplexity']['cached_minus_online']:+.2f} (z {_fmt_z(cmp['perplexity']['z'])}), "
            f"imputed {imp.get('mean', float('nan')):.1%} -> "
            + {True: "WITHIN run-to-run noise", False: "NOT within run-to-run noise", None: "noise unknown (1 seed)"}[ok])
    return {"cached_run": cached, "online_run": "bild_online", "within_noise": ok,
            "z_top1_agreement": cmp["top1_agreement"]["z"], "z_perplexity": cmp["perplexity"]["z"],
            "paired_z_top1_agreement": cmp["top1_agreement"]["paired_z"],
            "paired_z_perplexity": cmp["perplexity"]["paired_z"],
            "imputed_fraction": imp.get("mean"), "text": text}


def _fmt_z(z: Optional[float]) -> str:
    return "n/a" if z is None else f"{z:+.1f}"


def _compare(cached: dict, online: dict) -> dict:
    """Is the cached run's mean within run-to-run noise of the online run's?

    Noise is the seed-to-seed std of a metric (pooled over the two configs).  A
    difference of two n-seed means has std sigma*sqrt(2/n), so |diff| <= 2 of those
    (about a 95 % band) counts as "within noise".  With few seeds sigma itself is rough;
    the per-seed paired differences are kept so a reader can judge.
    """
    cmp = {}
    for metric in ("top1_agreement", "perplexity"):
        c, o = cached[metric], online[metric]
        n = min(len(c["per_seed"]), len(o["per_seed"]))
        diff = c["mean"] - o["mean"]
        sigma = math.sqrt((c["std"] ** 2 + o["std"] ** 2) / 2)
        se = sigma * math.sqrt(2 / n) if n > 1 else float("nan")
        paired = [a - b for a, b in zip(c["per_seed"], o["per_seed"])]
        paired_se = statistics.stdev(paired) / math.sqrt(len(paired)) if len(paired) > 1 else float("nan")
        cmp[metric] = {
            "cached_minus_online": diff,
            "paired_diffs": paired,
            # Stricter than the noise test: seeds pair the runs (same init, same batches), so
            # seed-to-seed variation cancels.  Kept for the reader, not used for the verdict.
            "paired_z": diff / paired_se if paired_se and not math.isnan(paired_se) else None,
            "seed_std": sigma,
            "diff_std_err": se,
            "z": diff / se if se and not math.isnan(se) else None,
            "within_noise": bool(abs(diff) <= 2 * se) if not math.isnan(se) else None,
        }
    return cmp


def print_table(summary: dict, runs: List[str], teacher_ppl: float) -> None:
    print()
    print(f"| run | top-1 agreement with teacher | held-out perplexity | imputed (mean / last 10 %) |")
    print(f"| --- | ---: | ---: | ---: |")
    print(f"| teacher | 100 % | {teacher_ppl:.2f} | |")
    for run in runs:
        s = summary[run]
        a, p = s["top1_agreement"], s["perplexity"]
        imp = s.get("imputed_fraction")
        imp_s = f"{imp['mean']:.1%} / {imp['last_10pct']:.1%}" if imp else ""
        print(f"| {run} | {a['mean']:.2%} ± {a['std']:.2%} | {p['mean']:.2f} ± {p['std']:.2f} | {imp_s} |")
    comparisons = [(run, "bild_online", cmp) for run, cmp in summary.get("cached_vs_online", {}).items()]
    comparisons += [(run, run.replace("bild_cache_k", "bild_online_topk"), cmp)
                    for run, cmp in summary.get("cache_vs_inprocess_topk", {}).items()]
    for run, other, cmp in comparisons:
        print()
        for metric, c in cmp.items():
            verdict = {True: "within noise", False: "NOT within noise", None: "noise unknown (1 seed)"}[c["within_noise"]]
            z = f", z {c['z']:+.1f}" if c["z"] is not None else ""
            z += f" (paired z {c['paired_z']:+.1f})" if c.get("paired_z") is not None else ""
            print(f"{run} - {other} {metric}: {c['cached_minus_online']:+.4f} (per seed "
                  f"{', '.join(f'{d:+.4f}' for d in c['paired_diffs'])}); seed-to-seed std {c['seed_std']:.4f}{z}"
                  f" -> {verdict}")


# --------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--teacher-dir", type=Path, default=REPO_ROOT.parent / "shared" / "teachers" / "stories260k",
                   help="folder with model.onnx and stories.jsonl")
    p.add_argument("--out", type=Path, help="write results JSON here")
    p.add_argument("--workdir", type=Path, help="keep the train split, cache and server log here (default: a temp dir, removed)")
    p.add_argument("--node", default=shutil.which("node") or "node")
    p.add_argument("--holdout", type=int, default=64, help="last N stories are held out")
    p.add_argument("--max-train", type=int, help="use only the first N train stories (smoke tests)")
    p.add_argument("--top-k", type=int, default=8, help="k of the main cache (every run reads its batches from it)")
    p.add_argument("--extra-top-k", type=int, nargs="*", default=[],
                   help="also precompute these k and add a bild_cache_kK run for each (e.g. 32 128 512)")
    p.add_argument("--values", default="f16", choices=["f32", "f16", "bf16", "q8"])
    p.add_argument("--batch-size", type=int, default=8, help="stories per stored (and training) batch")
    p.add_argument("--max-seq-len", type=int, default=256, help="precompute truncation and student context")
    p.add_argument("--runs", default=",".join(DEFAULT_RUNS),
                   help=f"comma list from {','.join(ALL_RUNS)}; bild_cache expands to one run per cached k")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--bild-k", type=int, default=8, help="k of the BiLD loss (<= --top-k)")
    p.add_argument("--temperature", type=float, default=3.0)
    p.add_argument("--ce-weight", type=float, default=1.0,
                   help="add this x next-token CE to every distillation run (0: distillation loss alone)")
    p.add_argument("--impute", nargs="+", default=["floor"], choices=list(IMPUTE_MODES),
                   help="teacher value for the student's top-k ids the cache lacks (bild_loss impute=); "
                        "several: one bild_cache run per mode, named with a _<mode> suffix unless floor alone")
    p.add_argument("--warm-start-steps", type=int, default=300,
                   help="first train one SFT student per seed for this many steps; every run of that seed then "
                        "starts from its weights (fresh optimizer and schedule, same batch order) for --steps")
    p.add_argument("--dim", type=int, default=48)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2,
                   help="few heads: CPU attention cost grows with heads at this width")
    p.add_argument("--threads", type=int, default=1,
                   help="torch and onnxruntime threads; on a small shared machine one thread per process "
                        "was several times faster than two (no spinning against other jobs)")
    p.add_argument("--no-memo-teacher", dest="memo_teacher", action="store_false",
                   help="re-run the online teacher on every step instead of once per distinct batch "
                        "(identical logits, the teacher is deterministic; only slower)")
    args = p.parse_args(argv)
    args.runs = [r for r in args.runs.split(",") if r]
    bad = [r for r in args.runs if r not in ALL_RUNS]
    if bad:
        p.error(f"--runs: unknown {bad}; choose from {ALL_RUNS}")
    if args.bild_k > args.top_k:
        p.error(f"--bild-k {args.bild_k} > --top-k {args.top_k}: BiLD's teacher-led part needs the teacher's top-{args.bild_k}")
    args.cache_ks = [args.top_k] + [k for k in dict.fromkeys(args.extra_top_k) if k != args.top_k]
    args.impute = list(dict.fromkeys(args.impute))
    sfx = {m: ("" if args.impute == ["floor"] else f"_{m}") for m in args.impute}
    expanded = []
    for r in args.runs:
        if r == "bild_cache":
            expanded += [f"bild_cache_k{k}{sfx[m]}" for k in args.cache_ks for m in args.impute]
        elif r == "topk_kl":
            expanded.append(f"topk_kl_k{args.top_k}")
        elif r == "bild_online_topk":
            expanded += [f"bild_online_topk{args.top_k}{sfx[m]}" for m in args.impute]
        else:
            expanded.append(r)
    args.runs = expanded
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    stories_path = args.teacher_dir / "stories.jsonl"
    for f in (args.teacher_dir / "model.onnx", stories_path, REPO_ROOT / "dist" / "cli" / "logit-cache.js"):
        if not f.exists():
            raise SystemExit(f"missing {f} (teacher folder: --teacher-dir; dist/: run `npx tsc -p .`)")

    # SIGTERM (e.g. a CI timeout) should unwind like Ctrl-C so the server child is stopped.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    train_rows, held = split_stories(load_stories(stories_path), args.holdout, args.max_train)
    tmp = None
    if args.workdir is None:
        tmp = tempfile.mkdtemp(prefix="distill-stories-")
        work = Path(tmp)
    else:
        work = args.workdir
        work.mkdir(parents=True, exist_ok=True)
    try:
        train_jsonl = work / "train.jsonl"
        write_jsonl(train_jsonl, train_rows)
        root = work / "cache"
        dataset_ids = {k: f"stories260k-train-k{k}-{args.values}" for k in args.cache_ks}
        pre = {}
        for k, dataset_id in dataset_ids.items():
            print(f"precompute: {len(train_rows)} train stories ({len(held)} held out), k={k} {args.values}", flush=True)
            pre[dataset_id] = run_precompute(args, train_jsonl, root, dataset_id, k)
            pre[dataset_id].pop("dir", None)  # a temp path, meaningless in a results file
            print(f"precompute: {pre[dataset_id]['wall_seconds']} s", flush=True)

        teacher = Teacher(args.teacher_dir / "model.onnx", args.threads)
        eval_batches, teacher_ppl, eval_tokens = make_eval(held, teacher, args.max_seq_len, args.batch_size)
        teacher.seconds, teacher.calls = 0.0, 0
        results: List[dict] = []
        memo: Dict[int, torch.Tensor] = {}
        t_all = time.perf_counter()
        with serve(args, root, work / "server.log") as url:
            caches = {k: HttpLogitCache(url, dataset_id) for k, dataset_id in dataset_ids.items()}
            checked: set = set()
            print(f"serving {url}: {len(caches[args.top_k])} batches of {args.batch_size}; student dim {args.dim} x {args.layers} layers, "
                  f"{args.steps} steps, seeds {args.seeds}", flush=True)
            for seed in args.seeds:
                init_state, order_seed = None, None
                if args.warm_start_steps:
                    # One SFT student per seed; every run of the seed continues from a copy.
                    r = train_one("warm_start", seed, args, caches[args.top_k], teacher, train_rows, memo, checked,
                                  steps=args.warm_start_steps)
                    model = r.pop("model")
                    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    r["eval"] = evaluate(model, eval_batches)
                    results.append(r)
                    print(f"  seed {seed} {'warm_start':15s} {r['train_seconds']:6.1f} s  agreement "
                          f"{r['eval']['top1_agreement']:.2%}  ppl {r['eval']['perplexity']:.2f}", flush=True)
                    order_seed = seed + 1000  # batches after the warm start: a fresh order, same for every run
                for run in args.runs:
                    cache = caches[run_cache_k(run, args.top_k)]
                    r = train_one(run, seed, args, cache, teacher, train_rows, memo, checked,
                                  init_state=init_state, order_seed=order_seed)
                    r["eval"] = evaluate(r.pop("model"), eval_batches)
                    results.append(r)
                    imp = f", imputed {r['imputed_fraction']['mean']:.1%}" if "imputed_fraction" in r else ""
                    print(f"  seed {seed} {run:15s} {r['train_seconds']:6.1f} s  agreement {r['eval']['top1_agreement']:.2%}"
                          f"  ppl {r['eval']['perplexity']:.2f}{imp}", flush=True)
        n_params = sum(p.numel() for p in Student(VOCAB, args.dim, args.layers, args.heads, args.max_seq_len).parameters())
        table_runs = (["warm_start"] if args.warm_start_steps else []) + args.runs
        summary = summarize(results, table_runs)
        print_table(summary, table_runs, teacher_ppl)
        summary["verdict"] = verdict(summary, args.runs, args)
        if summary["verdict"]:
            print(f"\nVERDICT: {summary['verdict']['text']}")
        doc = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]) if argv is None else None,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("node",)},
            "train_stories": len(train_rows), "heldout_stories": len(held), "heldout_tokens": eval_tokens,
            "student_params": n_params,
            "teacher_heldout_perplexity": teacher_ppl,
            "precompute": pre,
            "training_seconds_total": round(time.perf_counter() - t_all, 2),
            "runs": results,
            "summary": summary,
        }
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(doc, indent=2) + "\n")
            print(f"\nwrote {args.out}")
        return 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
