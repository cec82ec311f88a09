"""Thumbs up/down (and optional comments) from the UI, appended to a JSONL file.

Every record is bounded (``max_chars``, RAG_FEEDBACK_MAX_CHARS): a comment is cut to
``COMMENT_MAX_CHARS`` and a record still over the limit loses its citation texts, so no
request can make the file grow by more than a bounded amount per click.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

COMMENT_MAX_CHARS = 2000
_FIELD_MAX_CHARS = 4000  # question, answer, one citation sentence


def _clip(text, limit: int):
    if not isinstance(text, str):
        return text
    return text if len(text) <= limit else text[:limit] + "…"


def _shrink(record: dict) -> dict:
    """A record over the limit: short texts, citations reduced to their ids (at most ~4,000 characters)."""
    short = {k: _clip(record[k], 500) for k in ("question", "search_question", "answer", "comment")}
    cites = [{"n": c["n"], "doc": _clip(c["doc"], 100), "chunk_id": _clip(c["chunk_id"], 40)} for c in record["citations"][:10]]
    return {**record, **short, "citations": cites, "truncated": True}


class FeedbackLog:
    def __init__(self, path: Path, max_chars: int = 20_000):
        self.path = Path(path)
        self.max_chars = max_chars
        self._lock = threading.Lock()  # sessions share one file: whole lines only

    def write(self, turn: dict, verdict: str, comment: str = "") -> dict:
        answer = turn["answer"]
        record = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "question": _clip(turn["question"], _FIELD_MAX_CHARS),
            "search_question": _clip(answer.get("search_question"), _FIELD_MAX_CHARS),
            "answer": _clip(answer.get("message"), _FIELD_MAX_CHARS),
            "refused": answer.get("refused"),
            "citations": [{k: _clip(c[k], _FIELD_MAX_CHARS) for k in ("n", "doc", "title", "section", "sentence", "chunk_id")}
                          for c in answer.get("citations", [])[:20]],
            "verdict": "up" if verdict == "up" else "down",
            "comment": _clip(str(comment or ""), COMMENT_MAX_CHARS),
        }
        line = json.dumps(record, ensure_ascii=False)
        if len(line) > self.max_chars:
            record = _shrink(record)
            line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n")
        return record
