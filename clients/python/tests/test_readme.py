"""The README's runnable example must keep running (it writes with the real TypeScript writer)."""
import importlib.util
import re
from pathlib import Path

import pytest

from logit_cache.testing import REPO_ROOT as REPO, samples_from_logits, write_dataset

from conftest import make_teacher, need_writer


def test_readme_example_runs(capsys):
    need_writer()
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Runnable example", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md example", "exec"), {})
    assert "epoch 1: loss" in capsys.readouterr().out


def test_root_readme_parquet_snippet_runs(tmp_path, monkeypatch, capsys):
    """The root README's Parquet snippet (client, polars, DuckDB, datasets) over a dataset the real
    writer wrote with Parquet shards, under the README's own path."""
    need_writer()
    for module in ("polars", "duckdb", "datasets"):
        if importlib.util.find_spec(module) is None:
            print(f"SKIP: {module} is not installed; scripts/setup-python.sh installs it")
            pytest.skip(f"{module} is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Parquet shards in Python", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    ids, logits = make_teacher(n=7, vocab=64, seed=3)
    write_dataset(tmp_path / "out", "stories-pq", samples_from_logits(ids, logits, 8), k=8, values="f16", batch_size=3,
                  vocab_size=64, shard_format="parquet")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md parquet example", "exec"), {})
    assert capsys.readouterr().out.split() == ["7", "7", str(sum(len(i) for i in ids)), f"torch.Size([{len(ids[0])},", "8])"]
