"""Thumbs up/down (and optional comments) from the UI, appended to a JSONL file."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path


class FeedbackLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()  # sessions share one file: whole lines only

    def write(self, turn: dict, verdict: str, comment: str = "") -> dict:
        answer = turn["answer"]
        record = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "question": turn["question"],
            "search_question": answer.get("search_question"),
            "answer": answer.get("message"),
            "refused": answer.get("refused"),
            "citations": [{k: c[k] for k in ("n", "doc", "title", "section", "sentence", "chunk_id")}
                          for c in answer.get("citations", [])],
            "verdict": verdict,
            "comment": comment,
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
        return record
