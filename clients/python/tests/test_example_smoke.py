"""examples/distill_stories.py end to end with tiny settings: the real precompute CLI, the
real HTTP server, every training run, and a results file with a finite metric per run.

Runs the example as a subprocess (as a user would), so argument parsing, the server's
start and shutdown and the JSON it writes are all exercised; about 20-40 s on 2 cores.
"""
import json
import math
import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, STORIES

EXAMPLE = REPO_ROOT / "examples" / "distill_stories.py"
DIST_CLI = REPO_ROOT / "dist" / "cli" / "logit-cache.js"


def _skip_reason():
    if not (STORIES / "model.onnx").is_file() or not (STORIES / "stories.jsonl").is_file():
        return f"stories260k teacher not found at {STORIES} (set LOGIT_CACHE_SHARED to the shared folder)"
    if shutil.which("node") is None:
        return "node is not on PATH (the example runs the precompute CLI and the server)"
    if not (REPO_ROOT / "dist" / "cli" / "precompute-logits.js").is_file() or not DIST_CLI.is_file():
        return f"{REPO_ROOT / 'dist'} is not built; run `npx tsc -p .` (npm test builds it first)"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed (the 'test' extra); the online BiLD run needs it"
    return None


def test_distill_example_end_to_end(tmp_path):
    reason = _skip_reason()
    if reason:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    out = tmp_path / "distill.json"
    work = tmp_path / "work"
    cmd = [
        sys.executable, str(EXAMPLE), "--teacher-dir", str(STORIES), "--out", str(out), "--workdir", str(work),
        "--steps", "3", "--warmup", "1", "--seeds", "0", "--max-train", "24", "--holdout", "8",
        "--max-seq-len", "64", "--extra-top-k", "16", "--dim", "16", "--warm-start-steps", "2",
        "--impute", "floor", "tail_mean",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"example failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"

    doc = json.loads(out.read_text())
    want = ["sft", "bild_cache_k8_floor", "bild_cache_k8_tail_mean", "bild_cache_k16_floor",
            "bild_cache_k16_tail_mean", "bild_online", "topk_kl_k8"]
    assert doc["config"]["runs"] == want
    assert sorted(r["run"] for r in doc["runs"]) == sorted(want + ["warm_start"])
    for r in doc["runs"]:
        assert r["steps"] == (2 if r["run"] == "warm_start" else 3), r
        assert r["warm_started"] == (r["run"] != "warm_start"), r
        for metric in ("top1_agreement", "perplexity"):
            assert math.isfinite(r["eval"][metric]), (r["run"], metric, r["eval"])
        assert 0.0 <= r["eval"]["top1_agreement"] <= 1.0
        assert math.isfinite(r["final_train_loss"]), r
        if r["run"].startswith("bild_cache"):
            assert 0.0 <= r["imputed_fraction"]["mean"] <= 1.0
            assert r["impute"] == r["run"].split("_", 3)[-1], r
    # Both caches came from the real CLI over the same 24 stories, read back over HTTP.
    assert set(doc["precompute"]) == {"stories260k-train-k8-f16", "stories260k-train-k16-f16"}
    assert all(p["samples"] == 24 for p in doc["precompute"].values())
    assert math.isfinite(doc["teacher_heldout_perplexity"])
    assert set(doc["summary"]["cached_vs_online"]) == {r for r in want if r.startswith("bild_cache")}
    # The headline verdict: the main cache's first imputation mode against online BiLD.
    verdict = doc["summary"]["verdict"]
    assert verdict["cached_run"] == "bild_cache_k8_floor" and verdict["within_noise"] is None  # one seed
    assert "VERDICT: bild_cache_k8_floor vs bild_online" in proc.stdout
    # The example stopped its server (SIGTERM → graceful shutdown logs "stopped").
    assert "stopped" in (work / "server.log").read_text()
