"""Optional LLM answers through any OpenAI-compatible endpoint (Ollama, vLLM, DeepSeek, Qwen, OpenAI).

The model sees only the retrieved passages, numbered and delimited as data (rag.answer.prompts),
and every answer is verified in code before it is returned (rag.answer.llm_verify). Any failure —
unreachable server, timeout, 401, rate limit, 5xx, malformed reply, an answer that does not
survive verification — ends in the extractive answer with a note saying why, so asking a
question never fails because of the LLM.

Retries are done here rather than by the OpenAI client so that 429 back-off honours
Retry-After, is bounded, and shows up in Answer.notes.
"""
from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import Callable, Generator

from .prompts import build_prompt, rewrite_messages
from .llm_verify import verify_answer
from ..query import Query
from ..settings import Settings
from ..types import Answer, Hit

MAX_RETRY_AFTER = 20.0  # seconds; a server asking for a longer wait is not waited for
_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)


class LLMError(RuntimeError):
    """The LLM could not produce an answer; the message says why, for Answer.notes."""


def make_chat_model(settings: Settings, streaming: bool = True):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=settings.llm_base_url,
        # local servers (Ollama, vLLM) need no key, but the client insists on one
        api_key=settings.llm_api_key or "not-needed",
        model=settings.llm_model,
        timeout=settings.llm_timeout,
        max_retries=0,
        streaming=streaming,
        temperature=0,
    )


# ------------------------------------------------------------------------------ errors
def describe_error(exc: BaseException, settings: Settings) -> str:
    import httpx
    import openai

    url, model = settings.llm_base_url, settings.llm_model
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
        return f"the LLM at {url} did not answer within {settings.llm_timeout:g} s (RAG_LLM_TIMEOUT)"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc
        for _ in range(8):  # the OS error ("Connection refused") is at the bottom of the chain
            cause = cause.__cause__ or cause.__context__ or cause
        return f"cannot reach the LLM at {url} ({_short(str(cause)) or type(cause).__name__}); is the server running?"
    if isinstance(exc, openai.AuthenticationError):
        return f"the LLM at {url} rejected the API key (HTTP 401); set RAG_LLM_API_KEY"
    if isinstance(exc, openai.PermissionDeniedError):
        return f"the LLM at {url} refused access (HTTP 403); check RAG_LLM_API_KEY and RAG_LLM_MODEL={model}"
    if isinstance(exc, openai.NotFoundError):
        return (f"the LLM endpoint or model was not found (HTTP 404): check RAG_LLM_BASE_URL={url} "
                f"(OpenAI-compatible servers usually end in /v1) and RAG_LLM_MODEL={model}")
    if isinstance(exc, openai.RateLimitError):
        after = retry_after(exc)
        wait = f"; it asked to wait {after:g} s" if after is not None else ""
        return f"the LLM at {url} is rate limiting requests (HTTP 429){wait}"
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return f"the LLM server at {url} failed (HTTP {exc.status_code})"
        return f"the LLM at {url} refused the request (HTTP {exc.status_code}): {_short(exc.message)}"
    if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError, KeyError, TypeError, ValueError)):
        return f"malformed response from the LLM at {url}: {type(exc).__name__}: {_short(str(exc))}"
    if isinstance(exc, httpx.HTTPError):
        return f"the connection to the LLM at {url} broke off ({type(exc).__name__}: {_short(str(exc))})"
    if isinstance(exc, LLMError):
        return str(exc)
    return f"the LLM call failed ({type(exc).__name__}: {_short(str(exc))})"


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return max(0.0, float(headers["retry-after"]))
    except ValueError:  # an HTTP date: treat as unknown
        return None
    return None


def retry_delay(exc: BaseException, attempt: int, base: float) -> float | None:
    """Seconds to wait before trying again, or None when retrying would not help."""
    import openai

    if isinstance(exc, openai.RateLimitError):
        after = retry_after(exc)
        if after is None:
            return base * 2 ** attempt
        return after if after <= MAX_RETRY_AFTER else None
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return base * 2 ** attempt
    return None


def _content(chunk) -> str:
    content = getattr(chunk, "content", chunk)
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content if isinstance(b, (str, dict)))
    raise TypeError(f"unexpected message content {type(content).__name__}")


class _ThinkFilter:
    """Hides a leading <think>…</think> block (Qwen3, DeepSeek-R1 on Ollama) from the stream."""

    def __init__(self):
        self.buffer, self.state = "", "start"

    def feed(self, piece: str) -> str:
        if self.state == "pass":
            return piece
        self.buffer += piece
        head = self.buffer.lstrip()
        if self.state == "start":
            if head.startswith("<think>"):
                self.state = "think"
            elif "<think>".startswith(head):
                return ""
            else:
                self.state = "pass"
                return self.buffer
        if "</think>" in self.buffer:
            self.state = "pass"
            return self.buffer.split("</think>", 1)[1].lstrip()
        return ""


# ------------------------------------------------------------------------------ answering
class LLMAnswerer:
    backoff_base = 0.5  # seconds; doubled on every retry
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def __init__(self, settings: Settings, model=None):
        if not settings.llm_configured:
            raise ValueError("LLM answers need RAG_LLM_BASE_URL and RAG_LLM_MODEL (see README, 'LLM answers')")
        self.settings = settings
        self.model = model or make_chat_model(settings)

    def stream(self, query: Query, hits: list[Hit], extractive: Answer) -> Generator[tuple[str, str], None, Answer]:
        """Yields ("delta", text) as the model writes; returns the verified Answer (or the extractive one)."""
        t0 = time.perf_counter()
        if not hits:
            return fallback(extractive, "no passages were retrieved, so there was nothing to send to the LLM")
        prompt = build_prompt(query, hits, self.settings.llm_context_tokens)
        notes = list(prompt.notes)
        if not prompt.chunks:
            return fallback(extractive, f"RAG_LLM_CONTEXT_TOKENS={self.settings.llm_context_tokens} leaves no room "
                                        "for any passage", notes)
        messages = [("system", prompt.system), ("human", prompt.user)]
        try:
            raw = yield from self._generate(messages, notes)
        except LLMError as exc:
            return fallback(extractive, str(exc), notes)
        raw = _THINK.sub("", raw).strip()
        checked = verify_answer(raw, prompt.chunks, query.answer_lang, query.terms)
        notes += checked.notes
        if checked.reject:
            return fallback(extractive, f"the LLM answer failed verification ({checked.reject})", notes)
        answer = Answer(query.text, checked.text, checked.refused, checked.citations, hits, lang=query.answer_lang,
                        mode="llm", notes=notes, unverified=checked.unverified)
        answer.timings_ms["llm_ms"] = (time.perf_counter() - t0) * 1000
        return answer

    def _generate(self, messages, notes: list[str]) -> Generator[tuple[str, str], None, str]:
        attempts = self.settings.llm_max_retries + 1
        deadline = time.monotonic() + 5 * self.settings.llm_timeout  # a reply trickling in forever
        for attempt in range(attempts):
            parts: list[str] = []
            think = _ThinkFilter()
            try:
                for chunk in self.model.stream(messages):
                    piece = _content(chunk)
                    parts.append(piece)
                    shown = think.feed(piece)
                    if shown:
                        yield "delta", shown
                    if time.monotonic() > deadline:
                        raise LLMError(f"the LLM answer took longer than {5 * self.settings.llm_timeout:g} s")
                return "".join(parts)
            except Exception as exc:  # every failure becomes a note and a fallback, never a crash
                delay = retry_delay(exc, attempt, self.backoff_base)
                message = describe_error(exc, self.settings)
                if parts or delay is None or attempt + 1 >= attempts:
                    if attempt:
                        message += f" (after {attempt} retr{'y' if attempt == 1 else 'ies'})"
                    raise LLMError(message) from exc
                notes.append(f"retried: {message}; waited {delay:g} s")
                self.sleep(delay)
        raise LLMError("no attempt was made")  # unreachable: attempts >= 1


def fallback(extractive: Answer, reason: str, notes: list[str] | None = None) -> Answer:
    return dataclasses.replace(
        extractive,
        notes=[*(notes or []), f"fell back to extractive answer: {reason}", *extractive.notes],
        citations=list(extractive.citations), hits=list(extractive.hits), unverified=list(extractive.unverified),
        timings_ms=dict(extractive.timings_ms),
    )


# ------------------------------------------------------------------------------ follow-ups
_LABEL = re.compile(r"^(rewritten question|standalone question|question|改写后的问题|改写|问题)\s*[:：]\s*", re.I)


def rewrite_question(settings: Settings, question: str, history: list[str], model=None) -> str:
    """A self-contained version of a follow-up question; raises LLMError when the LLM cannot help."""
    if not history:
        return question
    model = model or make_chat_model(settings, streaming=False)
    system, user = rewrite_messages(question, history)
    attempts = settings.llm_max_retries + 1
    for attempt in range(attempts):
        try:
            reply = _content(model.invoke([("system", system), ("human", user)]))
            break
        except Exception as exc:
            delay = retry_delay(exc, attempt, LLMAnswerer.backoff_base)
            if delay is None or attempt + 1 >= attempts:
                raise LLMError(describe_error(exc, settings)) from exc
            LLMAnswerer.sleep(delay)
    lines = [ln.strip() for ln in _THINK.sub("", reply).splitlines() if ln.strip()]
    text = _LABEL.sub("", lines[0]).strip(" \"'“”「」") if lines else ""
    if not text or len(text) > settings.max_question_chars:
        raise LLMError(f"the LLM's rewrite of the question is unusable: {_short(reply, 80)!r}")
    return text

