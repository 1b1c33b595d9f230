"""How well does a top-k cache serve BiLD's student-led part?  (stories260k teacher)

The teacher-led part is exact from any cache holding the teacher's top-k.  The
student-led part needs the teacher at the *student's* top-k ids; ids outside the
cache are imputed with the lowest cached log-prob.  For caches of k = 8, 16, 32, 64
this prints, per student, the relative error of the student-led part against full
teacher logits and the share of imputed ids, and writes the rows as JSON.

    python benchmarks/fidelity.py --out fidelity.json [--stories 32] [--values f16]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from logit_cache import LogitCacheDataset
from logit_cache.losses import bild_loss, bild_loss_full
from logit_cache.testing import load_token_sequences, onnx_teacher_logits, samples_from_logits, write_dataset

DEFAULT_TEACHER = Path(__file__).resolve().parents[3].parent / "shared" / "teachers" / "stories260k"


def students(teacher: torch.Tensor, seed: int):
    """Students of decreasing quality, all from one seeded generator (reproducible)."""
    g = torch.Generator().manual_seed(seed)
    yield "teacher+N(0,0.5)", teacher + 0.5 * torch.randn(teacher.shape, generator=g)
    yield "teacher+N(0,1)", teacher + torch.randn(teacher.shape, generator=g)
    yield "random N(0,2)", 2.0 * torch.randn(teacher.shape, generator=g)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher-dir", type=Path, default=DEFAULT_TEACHER)
    ap.add_argument("--stories", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--values", default="f16", choices=["f32", "f16", "bf16", "q8"])
    ap.add_argument("--bild-k", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=3.0)
    ap.add_argument("--ks", default="8,16,32,64")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write results JSON here")
    args = ap.parse_args(argv)
    model = args.teacher_dir / "model.onnx"
    if not model.is_file():
        print(f"fidelity: teacher model not found at {model}", file=sys.stderr)
        return 1

    t0 = time.time()
    seqs = load_token_sequences(args.teacher_dir / "stories.jsonl", args.stories, args.max_len)
    logits = onnx_teacher_logits(model, seqs)
    vocab = logits[0].shape[-1]
    width = max(len(s) for s in seqs)
    teacher = torch.zeros(len(seqs), width, vocab)
    for r, lg in enumerate(logits):
        teacher[r, : len(lg)] = torch.from_numpy(lg)
    student_list = list(students(teacher, args.seed))

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in (int(x) for x in args.ks.split(",")):
            d = write_dataset(tmp, f"k{k}", samples_from_logits(seqs, logits, k), k=k, values=args.values,
                              batch_size=len(seqs), vocab_size=vocab)
            ds = LogitCacheDataset(d)
            batch = ds.batch(0)
            mask = batch["attention_mask"]
            for name, student in student_list:
                _, cached = bild_loss(student, batch, k=args.bild_k, temperature=args.temperature)
                _, full = bild_loss_full(student, teacher, k=args.bild_k, temperature=args.temperature, mask=mask)
                rel = lambda a, b: abs(a - b) / abs(b) if b else float("nan")
                rows.append({
                    "cache_k": k,
                    "student": name,
                    "student_led_cached": cached["student_led"].item(),
                    "student_led_full": full["student_led"].item(),
                    "student_led_rel_error": rel(cached["student_led"].item(), full["student_led"].item()),
                    "teacher_led_rel_error": rel(cached["teacher_led"].item(), full["teacher_led"].item()),
                    "imputed_fraction": cached["imputed_fraction"].item(),
                    "bytes_per_token": ds.manifest.raw["stats"]["bytesPerToken"],
                })
    result = {
        "teacher": str(model),
        "stories": len(seqs),
        "tokens": int(sum(len(s) for s in seqs)),
        "values": args.values,
        "bild_k": args.bild_k,
        "temperature": args.temperature,
        "seed": args.seed,
        "seconds": round(time.time() - t0, 2),
        "rows": rows,
    }
    print(f"BiLD k={args.bild_k}, T={args.temperature}, {result['tokens']} tokens of {len(seqs)} stories, values={args.values}")
    print(f"{'cache k':>7}  {'student':<17} {'student-led rel err':>19} {'imputed':>8} {'teacher-led rel err':>19} {'B/token':>8}")
    for r in rows:
        print(f"{r['cache_k']:>7}  {r['student']:<17} {r['student_led_rel_error']:>19.3e} {r['imputed_fraction']:>8.2%}"
              f" {r['teacher_led_rel_error']:>19.3e} {r['bytes_per_token']:>8.1f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
