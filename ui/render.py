"""HTML for the chat and the sources panel: pure functions of an Answer, so they are testable
without a browser. Server-rendered text follows the answer's language (the question's).

Documents and questions are untrusted: any document can contain HTML or markdown (an image
pointing at an outside server would be fetched by every viewer's browser). Their text is
escaped everywhere (``plain`` in the markdown chat, ``html.escape`` in the HTML panel); the
only markup shown is ours: citation links, bold labels, the refusal's blockquote."""
from __future__ import annotations

import html
import re

from rag.types import Answer, Hit

_MARKER = re.compile(r"\[(\d+)\]")

TEXT = {
    "zh": {
        "sources": "引用来源", "closest": "最接近的段落（未找到答案）", "others": "其他检索到的段落",
        "searched": "检索问题", "retrieving": "正在检索…", "found": "检索到 {n} 段，正在生成答案…",
        "refused": "未能从文档中找到答案", "no_sources": "提问后，答案引用的段落会显示在这里。",
        "error": "出错了", "unverified": "未经核实的数字", "turn": "第 {n} 问",
        "only_in": "只在此文件中检索", "read_doc": "在原文中查看",
    },
    "en": {
        "sources": "Sources", "closest": "Closest passages (no answer found)", "others": "Other retrieved passages",
        "searched": "Searched as", "retrieving": "Retrieving…", "found": "{n} passages retrieved, answering…",
        "refused": "The documents do not answer this", "no_sources": "Ask a question: the passages its answer cites appear here.",
        "error": "Something went wrong", "unverified": "Unverified figures", "turn": "Question {n}",
        "only_in": "Searched only in", "read_doc": "Read in document",
    },
}


def t(lang: str, key: str, **kw) -> str:
    return TEXT["en" if lang == "en" else "zh"][key].format(**kw)


def anchor(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


# Markdown that untrusted text (documents, questions, answers quoting them) must not produce:
# inline HTML is escaped as entities, and these characters get a backslash so no image, link,
# emphasis, code, table or heading comes out of them. Ours is added around the escaped text.
_MD_INLINE = re.compile(r"([\\`*_\[\]!|~$])")
_MD_LINE_START = re.compile(r"^(\s*)(?:([#+=>-])|(\d+)([.)]))", re.M)
_ESCAPED_MARKER = re.compile(r"\\\[(\d+)\\\]")


def plain(text: str) -> str:
    """Text shown as itself in the markdown chat: no HTML, no markdown images or links."""
    text = html.escape(str(text), quote=False)
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_LINE_START.sub(lambda m: m.group(1) + (f"\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\{m.group(4)}"), text)


def link_markers(text: str, turn: int) -> str:
    """The answer as plain text, each [n] a markdown link to the source's anchor (the page script opens it)."""
    return _ESCAPED_MARKER.sub(lambda m: f"[[{m.group(1)}]](#{anchor(turn, int(m.group(1)))})", plain(text))


def chat_message(answer: Answer, turn: int) -> str:
    """The assistant message: the answer with linked markers, or a visibly different refusal."""
    lang = answer.lang
    if answer.refused:
        # a blockquote sets the refusal apart from answers without relying on an emoji font;
        # the notes say why (another measure, place or year than the one asked)
        why = "".join(f"\n>\n> *{plain(note)}*" for note in answer.notes)
        body = f"> **{t(lang, 'refused')}**\n>\n> {plain(answer.text)}{why}"
    else:
        body = link_markers(answer.text, turn)
    extra = []
    if answer.unverified:
        extra.append(f"**{t(lang, 'unverified')}**: {plain(', '.join(answer.unverified))}")
    if answer.search_question:
        extra.append(f"<sub>{t(lang, 'searched')}：{plain(answer.search_question)}</sub>")
    return body + ("\n\n" + "\n\n".join(extra) if extra else "")


def error_message(exc: BaseException | str, lang: str) -> str:
    return f"> **{t(lang, 'error')}**：{plain(str(exc))}"


def user_message(question: str, scope: str | None = None, lang: str = "zh") -> str:
    """The question as typed, shown as text (a question may hold markup too); ``scope``: the one document searched."""
    if not scope:
        return plain(question)
    return f"{plain(question)}\n\n<sub>{t(lang, 'only_in')}：{plain(scope)}</sub>"


def _label(chunk, documents: dict) -> str:
    doc = documents.get(chunk.doc_id)
    section = " › ".join(chunk.section)
    date = doc.date if doc is not None and doc.date else ""
    parts = [f'<span class="src-title">{html.escape(chunk.title)}</span>']
    if section:
        parts.append(f'<span class="src-section">{html.escape(section)}</span>')
    if date:
        parts.append(f'<span class="src-date">{html.escape(date)}</span>')
    return " · ".join(parts)


def _passage(text: str, start: int | None = None, end: int | None = None) -> str:
    """The whole passage, the supporting sentence marked."""
    if start is None or end is None:
        return f'<div class="src-passage">{html.escape(text)}</div>'
    return (f'<div class="src-passage">{html.escape(text[:start])}<mark class="support">'
            f'{html.escape(text[start:end])}</mark>{html.escape(text[end:])}</div>')


def _entry(turn: int, n: int | str, chunk, documents: dict, *, start=None, end=None,
           classes: str = "", opened: bool = False, lang: str = "zh") -> str:
    """One passage; its data-* offsets (into the cleaned document) let the page open it in the document view."""
    ident = anchor(turn, n) if isinstance(n, int) else f"ctx-{turn}-{n}"
    badge = f'<span class="src-n">[{n}]</span> ' if isinstance(n, int) else ""
    quote = ""
    if start is not None:
        quote = f'<div class="src-sentence">“{html.escape(chunk.text[start:end])}”</div>'
    s, e = (chunk.start + start, chunk.start + end) if start is not None else (0, 0)
    where = f'data-doc="{html.escape(chunk.doc_id)}" data-start="{chunk.start}" data-end="{chunk.end}" data-s="{s}" data-e="{e}"'
    return (f'<details class="src {classes}" id="{ident}" {where}{" open" if opened else ""}>'
            f'<summary>{badge}{_label(chunk, documents)}{quote}</summary>'
            f'{_passage(chunk.text, start, end)}<div class="src-doc">{html.escape(chunk.doc_id)} · '
            f'<a class="src-open" href="#doc">{t(lang, "read_doc")} ↗</a></div></details>')


def turn_sources(answer: Answer, turn: int, documents: dict) -> str:
    """One answer's sources: cited passages first, the rest retrieved but secondary."""
    lang = answer.lang
    parts = []
    if answer.refused:
        parts.append(f'<div class="src-heading refused">{t(lang, "closest")}</div>')
        for i, h in enumerate(answer.hits, 1):
            parts.append(_entry(turn, f"h{i}", h.chunk, documents, classes="closest", opened=i == 1, lang=lang))
        return "".join(parts)
    cited_ids = {c.chunk.chunk_id for c in answer.citations}
    parts.append(f'<div class="src-heading">{t(lang, "sources")}</div>')
    for c in answer.citations:
        parts.append(_entry(turn, c.n, c.chunk, documents, start=c.start, end=c.end, classes="cited", lang=lang))
    others: list[Hit] = [h for h in answer.hits if h.chunk.chunk_id not in cited_ids]
    if others:
        inner = "".join(_entry(turn, f"h{i}", h.chunk, documents, classes="uncited", lang=lang) for i, h in enumerate(others, 1))
        parts.append(f'<details class="others"><summary>{t(lang, "others")} ({len(others)})</summary>{inner}</details>')
    return "".join(parts)


def retrieved_preview(hits: list[Hit], lang: str, documents: dict) -> str:
    """Shown while the answer streams: what was found, before knowing what is cited."""
    head = f'<div class="src-heading pending">{t(lang, "found", n=len(hits))}</div>'
    return head + "".join(_entry(-1, f"p{i}", h.chunk, documents, classes="uncited", lang=lang) for i, h in enumerate(hits, 1))


def sources_panel(turns: list[dict], documents: dict, lang: str = "zh") -> str:
    """All turns' sources, newest first; older turns folded so a marker in an old message still resolves."""
    if not turns:
        return f'<div class="src-empty">{t(lang, "no_sources")}</div>'
    blocks = []
    for turn in reversed(range(len(turns))):
        entry = turns[turn]
        inner = entry["sources_html"]
        if turn == len(turns) - 1:
            blocks.append(f'<div class="turn latest" id="turn-{turn}">{inner}</div>')
        else:
            label = f'{t(entry["lang"], "turn", n=turn + 1)}：{html.escape(entry["question"])}'
            blocks.append(f'<details class="turn" id="turn-{turn}"><summary>{label}</summary>{inner}</details>')
    return f'<div class="sources-root">{"".join(blocks)}</div>'
