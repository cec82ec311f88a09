"""HTML for the Documents tab and the document view: pure functions of plain data, testable without a browser.

Same rule as ``ui.render``: every text from a document, a file name or an error is escaped; the
only markup is ours (table, progress bar, highlight, breadcrumb). Labels are bilingual because
the server does not know the browser's language.
"""
from __future__ import annotations

import html
import time

from rag.kb_jobs import PHASES

esc = html.escape


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else ""


def _open_link(doc: str, label: str) -> str:
    """A link the page script turns into the document view (no navigation, no server round trip of its own)."""
    return f'<a class="doc-open" href="#doc" data-doc="{esc(doc)}" data-start="0" data-end="0">{esc(label)}</a>'


def documents_table(listing: dict) -> str:
    """The indexed documents, then the files that could not be indexed and why."""
    rows = []
    for d in listing["documents"]:
        origin = '<span class="kb-added">添加 added</span>' if d["added"] else '<span class="kb-base">内置 built-in</span>'
        rows.append(f'<tr data-doc="{esc(d["doc"])}"><td>{_open_link(d["doc"], d["title"])}</td>'
                    f'<td>{esc(d["publisher"] or "")}</td><td>{esc(d["date"] or "")}</td>'
                    f'<td class="kb-file">{esc(d["doc"])}</td><td class="kb-num">{d["chunks"]}</td>'
                    f'<td>{_when(d["indexed_at"])}</td><td>{origin}</td></tr>')
    head = ("<tr><th>标题 Title</th><th>发布机构 Publisher</th><th>日期 Date</th><th>文件 File</th>"
            "<th>段落 Chunks</th><th>索引时间 Indexed</th><th>来源 Source</th></tr>")
    table = f'<table class="kb-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    summary = (f'<div class="kb-summary">{len(listing["documents"])} 个文档 documents · {listing["chunks"]} 段 chunks · '
               f'添加的文档保存在 added documents live in <code>{esc(listing["user_corpus_dir"])}</code></div>')
    return f'<div class="kb-root">{summary}{table}{skipped_list(listing["skipped"])}</div>'


def skipped_list(skipped: list[dict]) -> str:
    if not skipped:
        return ""
    items = "".join(f'<li><span class="kb-file">{esc(s["doc"])}</span>：{esc(s["reason"])}</li>' for s in skipped)
    return (f'<div class="kb-skipped"><div class="kb-skipped-head">未能索引的文件 Files not indexed ({len(skipped)})</div>'
            f'<ul>{items}</ul></div>')


def job_status(job: dict | None) -> str:
    """The progress bar of the running (or last) change, with its outcome once finished."""
    if not job or job.get("state") in (None, "idle", "unknown"):
        return '<div class="kb-status idle"></div>'
    state, phase = job["state"], job.get("phase", "")
    docs = "、".join(job.get("docs") or [])
    verb = "添加 Adding" if job.get("kind") == "add" else "删除 Removing"
    if state in ("queued", "running"):
        done, total = job.get("done") or 0, job.get("total") or 0
        bar = f'<progress max="{max(total, 1)}" value="{min(done, total) if total else 0}"></progress>'
        count = f" {done}/{total}" if total else ""
        pending = f' · 另有 {job["pending"] - 1} 项排队 more queued' if job.get("pending", 1) > 1 else ""
        return (f'<div class="kb-status running" data-state="{state}">{verb}：{esc(docs)} — '
                f'{esc(PHASES.get(phase, phase))}{count}{pending}{bar}'
                '<div class="kb-note">索引完成前，问答仍使用当前索引 Questions are answered from the current index until the new one is ready.</div></div>')
    if state == "failed":
        return f'<div class="kb-status failed" data-state="failed">{verb}：{esc(docs)} — 失败 failed: {esc(job.get("error") or "")}</div>'
    return f'<div class="kb-status done" data-state="done">{verb}：{esc(docs)} — 完成 done{_outcome(job.get("result") or {})}</div>'


def _outcome(result: dict) -> str:
    lines = []
    for row in result.get("added", []):
        if not row["indexed"]:
            lines.append(f'<li class="kb-warn">{esc(row["doc"])} 未索引 not indexed: {esc(row["reason"] or "")}</li>')
    summary = (result.get("summary") or "").split("\n")[0]
    return (f'<div class="kb-note">{esc(summary)}</div>' if summary else "") + (f"<ul>{''.join(lines)}</ul>" if lines else "")


def message(text: str, kind: str = "error") -> str:
    """A refusal (bad file, no permission) shown where the progress bar would be; one line per problem."""
    lines = "".join(f"<li>{esc(line)}</li>" for line in str(text).splitlines() if line.strip())
    title = "未添加任何文件 Nothing was changed" if kind == "error" else ""
    return f'<div class="kb-status {kind}" data-state="{kind}"><b>{title}</b><ul>{lines}</ul></div>'
