"""Per-request bounds, checked at every entry point (CLI, UI /ask API, batch, LangChain adapters).

Settings bound the defaults; these bound what one call may ask for, so a single request
cannot hold a worker for long (k=10000, a 10,000-item history) or crash it with wrong types
(history=[1, None]). Every violation is a ``RequestError``: a ValueError with a message
saying what is allowed, reported as a user error (exit 2 in the CLI, a 400 in the API).
"""
from __future__ import annotations

from typing import Any, Iterable

from .query import validate_question

MIN_K, MAX_K = 1, 50
MAX_HISTORY_ITEMS = 20  # earlier questions of one conversation; only the recent ones matter for rewriting
MAX_HISTORY_CHARS = 5000  # all of them together
MAX_DOCS = 200  # document filters in one call
MODES = ("hybrid", "dense", "lexical")
ANSWER_MODES = ("extractive", "llm")


class RequestError(ValueError):
    """A request outside the bounds or of the wrong type; the message says what is allowed."""


def check_k(k: Any) -> int | None:
    """Passages per call: None (the configured default) or an integer 1–50."""
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, int):
        if isinstance(k, float) and k.is_integer():
            k = int(k)
        else:
            raise RequestError(f"k must be a whole number from {MIN_K} to {MAX_K}, not {_show(k)}")
    if not MIN_K <= k <= MAX_K:
        raise RequestError(f"k must be from {MIN_K} to {MAX_K} passages, not {k}")
    return k


def check_question(question: Any, max_chars: int) -> str:
    """A non-empty string of at most ``max_chars`` characters (RAG_MAX_QUESTION_CHARS)."""
    if not isinstance(question, str):
        raise RequestError(f"the question must be a string, not {_show(question)}")
    return validate_question(question, max_chars)


def check_history(history: Any) -> list[str] | None:
    """Earlier questions, oldest first: a list of at most 20 strings, 5,000 characters in all."""
    if history is None:
        return None
    items = _string_list(history, "history")
    if len(items) > MAX_HISTORY_ITEMS:
        raise RequestError(f"history holds {len(items)} questions; at most {MAX_HISTORY_ITEMS} "
                           "(send only the most recent ones)")
    total = sum(len(q) for q in items)
    if total > MAX_HISTORY_CHARS:
        raise RequestError(f"history is {total} characters long; at most {MAX_HISTORY_CHARS} in all")
    return items or None


def recent_history(questions: Iterable[str]) -> list[str]:
    """The most recent earlier questions that fit the history bounds (for a long chat session)."""
    kept, total = [], 0
    for q in reversed(list(questions)):
        if len(kept) == MAX_HISTORY_ITEMS or total + len(q) > MAX_HISTORY_CHARS:
            break
        kept.append(q)
        total += len(q)
    return kept[::-1]


def check_docs(docs: Any) -> list[str] | None:
    """Document file names to search in: a list of strings (unknown names are refused later)."""
    if docs is None:
        return None
    items = _string_list(docs, "docs")
    if len(items) > MAX_DOCS:
        raise RequestError(f"docs names {len(items)} documents; at most {MAX_DOCS}")
    return items or None


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in choices:
        raise RequestError(f"{name} must be one of {', '.join(choices)}, not {_show(value)}")
    return value


def check_request(settings, question: Any, *, k: Any = None, mode: Any = None, docs: Any = None,
                  answer_mode: Any = None, history: Any = None) -> dict:
    """Every argument of one ask, checked; returns them cleaned for ``RagService.ask``."""
    return {
        "question": check_question(question, settings.max_question_chars),
        "k": check_k(k),
        "mode": check_choice(mode, "mode", MODES),
        "docs": check_docs(docs),
        "answer_mode": check_choice(answer_mode, "answer_mode", ANSWER_MODES),
        "history": check_history(history),
    }


def _string_list(value: Any, name: str) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise RequestError(f"{name} must be a list of strings, not {_show(value)}")
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise RequestError(f"{name} must be a list of strings; it holds {_show(bad[0])}")
    return list(value)


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'…' if len(text) > 40 else ''}"
