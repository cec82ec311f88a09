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
MAX_HISTORY_ITEMS = 20  # earlier turns of one conversation; only the recent ones matter for rewriting
MAX_HISTORY_CHARS = 10000  # their questions and answers together
MAX_TURN_CITATIONS = 20  # citations of one earlier turn (only where they point is read)
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


def check_history(history: Any) -> list | None:
    """Earlier turns, oldest first: at most 20, each a question (string) or a turn as
    ``Answer.as_turn()`` gives it ({"question", "answer", "search_question", "refused",
    "citations": [{"doc", "section", "chunk_id"}]}); 10,000 characters of text in all."""
    if history is None:
        return None
    if isinstance(history, (str, bytes)) or not isinstance(history, (list, tuple)):
        raise RequestError(f"history must be a list of earlier questions or turns, not {_show(history)}")
    if len(history) > MAX_HISTORY_ITEMS:
        raise RequestError(f"history holds {len(history)} turns; at most {MAX_HISTORY_ITEMS} "
                           "(send only the most recent ones)")
    items = [_check_turn(item, i) for i, item in enumerate(history, 1)]
    total = sum(_turn_chars(t) for t in items)
    if total > MAX_HISTORY_CHARS:
        raise RequestError(f"history is {total} characters long; at most {MAX_HISTORY_CHARS} in all "
                           "(send only the most recent turns)")
    return items or None


_TURN_TYPES = {"question": (str,), "answer": (str, type(None)), "search_question": (str, type(None)),
               "refused": (bool, type(None)), "citations": (list, tuple, type(None))}
# The rest of an answer as `rag ask --json` and /ask return it: accepted in a turn and not read.
_ANSWER_EXTRAS = {"message", "lang", "mode", "contexts", "timings_ms", "notes", "unverified"}


def _check_turn(item: Any, n: int):
    """One history item: a question, or a turn dict with known fields of the right types."""
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        raise RequestError(f"history item {n} must be a question (string) or a turn (object), not {_show(item)}")
    if "error" in item:
        raise RequestError(f"history item {n} is an error reply, not a turn: {str(item['error'])[:80]}")
    item = {k: v for k, v in item.items() if k not in _ANSWER_EXTRAS}
    unknown = sorted(set(item) - set(_TURN_TYPES))
    if unknown:
        raise RequestError(f"history item {n} has unknown field(s) {', '.join(map(repr, unknown))}; "
                           f"allowed: {', '.join(_TURN_TYPES)}")
    if not isinstance(item.get("question"), str) or not item["question"].strip():
        raise RequestError(f"history item {n} needs a non-empty \"question\" string")
    for key, types in _TURN_TYPES.items():
        if key in item and not isinstance(item[key], types):
            raise RequestError(f"history item {n}: {key!r} must be {' or '.join(t.__name__ for t in types)}, "
                               f"not {_show(item[key])}")
    cites = item.get("citations") or []
    if len(cites) > MAX_TURN_CITATIONS:
        raise RequestError(f"history item {n} has {len(cites)} citations; at most {MAX_TURN_CITATIONS}")
    for c in cites:
        if not isinstance(c, dict) or not isinstance(c.get("doc"), str):
            raise RequestError(f"history item {n}: each citation must be an object with a \"doc\" string, not {_show(c)}")
    return {**item, "citations": [{k: c.get(k) for k in ("doc", "section", "chunk_id")} for c in cites]}


def _turn_chars(item) -> int:
    if isinstance(item, str):
        return len(item)
    return sum(len(item.get(k) or "") for k in ("question", "answer", "search_question"))


def recent_history(turns: Iterable) -> list:
    """The most recent earlier turns that fit the history bounds (for a long chat session)."""
    kept, total = [], 0
    for t in reversed(list(turns)):
        if len(kept) == MAX_HISTORY_ITEMS or total + _turn_chars(t) > MAX_HISTORY_CHARS:
            break
        kept.append(t)
        total += _turn_chars(t)
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
