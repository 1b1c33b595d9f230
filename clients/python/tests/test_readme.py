"""The README's runnable example must keep running (it writes with the real TypeScript writer)."""
import re
from pathlib import Path

from conftest import need_writer


def test_readme_example_runs(capsys):
    need_writer()
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Runnable example", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md example", "exec"), {})
    assert "epoch 1: loss" in capsys.readouterr().out
