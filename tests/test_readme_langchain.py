"""The README's LangChain example runs as written and puts the answering passage in the prompt."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HEADING = "## Use with LangChain"


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert HEADING in readme, f"README has no {HEADING!r} section"
    section = readme.split(HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, f"no python code block under {HEADING!r}"
    return blocks[0]


def test_readme_langchain_example_runs(service, tmp_path):
    # the session index (already built by `service`) is the one the example opens
    settings = service.settings
    env = {**os.environ, "RAG_INDEX_DIR": str(settings.resolved_index_dir()),
           "RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_CACHE_DIR": str(settings.cache_dir),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # run from an empty folder, as a reader would, so no .env of the checkout leaks in
    done = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "12.7%" in done.stdout, done.stdout[-3000:]
    assert "Updating the index" not in done.stderr  # it reused the session index
