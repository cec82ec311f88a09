"""The "文档 / Documents" tab and the JSON API it uses: list, add (upload), remove, progress, read.

Every change goes through one function per endpoint (``/kb_add``, ``/kb_remove``), the same one
the tab's buttons call, so the API is exactly what the UI does. Changes are checked at once and
indexed in the background (``rag.kb_jobs``); a timer polls the progress while one runs.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from rag.kb import KnowledgeBase
from rag.kb_jobs import KbJobs
from rag.uploads import UploadError

from . import kb_render
from .auth import EditPolicy

FILE_TYPES = [".pdf", ".docx", ".txt", ".md"]


class KbApi:
    """The knowledge-base endpoints as plain functions returning JSON-able dicts."""

    def __init__(self, service, policy: EditPolicy):
        self.service = service
        self.policy = policy
        self.kb = KnowledgeBase(service.settings, service)
        self.jobs = KbJobs(self.kb)

    def documents(self) -> dict:
        """Indexed documents (title, publisher, date, file, chunks, when indexed, added or built-in), skipped files, the current change."""
        return {**self.kb.listing(), "job": self.jobs.status(), "can_edit": self.policy.refusal() is None}

    def add(self, files: list[str] | None, title: str = "", publisher: str = "", date: str = "", replace: bool = False,
            request: gr.Request = None) -> dict:
        """Upload documents: checked by content and size (all or none), then indexed in the background; returns the job."""
        refusal = self.policy.refusal(getattr(request, "username", None))
        if refusal:
            return {"error": refusal, "status": 403}
        paths = [Path(f) for f in _paths(files)]
        try:
            return {"job": self.jobs.add([(p, p.name) for p in paths], title, publisher, date, bool(replace))}
        except (UploadError, OSError) as exc:
            return {"error": str(exc), "status": 400}

    def remove(self, docs: list[str] | None, request: gr.Request = None) -> dict:
        """Remove added documents (by file name) and their chunks; returns the job."""
        refusal = self.policy.refusal(getattr(request, "username", None))
        if refusal:
            return {"error": refusal, "status": 403}
        try:
            return {"job": self.jobs.remove(list(docs or []))}
        except UploadError as exc:
            return {"error": str(exc), "status": 400}

    def status(self, job_id: str = "") -> dict:
        """Progress of a change (by job id; default: the running or last one): state, phase, done, total, result."""
        return self.jobs.status(job_id or None)

    def document(self, doc: str) -> dict:
        """One indexed document's cleaned text and blocks (headings, section paths): what citation offsets point into."""
        from .docview import as_dict

        found = self.service.store.documents.get(doc)
        return as_dict(found) if found else {"error": f"no indexed document {doc!r}", "status": 404}


def _paths(files) -> list[str]:
    """Gradio gives paths (str), FileData-like dicts or objects with .name; an API client may send one file."""
    if not files:
        return []
    files = files if isinstance(files, list) else [files]
    out = []
    for f in files:
        path = f if isinstance(f, str) else (f.get("path") if isinstance(f, dict) else getattr(f, "name", None))
        if path:
            out.append(str(path))
    return out


def added_choices(listing: dict) -> list[tuple[str, str]]:
    return [(f'{d["title"]} ({d["doc"]})', d["doc"]) for d in listing["documents"] if d["added"]]


def build_tab(api: KbApi, i18n):
    """The tab's components and events; returns what the chat side refreshes after a change."""
    refusal = api.policy.refusal()
    listing = api.kb.listing()
    status = gr.HTML(kb_render.job_status(api.jobs.status()), elem_id="kb-status")
    table = gr.HTML(kb_render.documents_table(listing), elem_id="kb-table")
    with gr.Accordion(i18n("kb_add"), open=True, visible=refusal is None):
        files = gr.File(file_count="multiple", file_types=FILE_TYPES, type="filepath", elem_id="kb-files",
                        label=i18n("kb_files"))
        with gr.Row():
            title = gr.Textbox(label=i18n("kb_title"), elem_id="kb-title", max_lines=1)
            publisher = gr.Textbox(label=i18n("kb_publisher"), elem_id="kb-publisher", max_lines=1)
            date = gr.Textbox(label=i18n("kb_date"), elem_id="kb-date", max_lines=1, placeholder="2025-04-21")
        replace = gr.Checkbox(label=i18n("kb_replace"), value=False)
        add_btn = gr.Button(i18n("kb_add_btn"), variant="primary", elem_id="kb-add")
    with gr.Accordion(i18n("kb_remove"), open=False, visible=refusal is None):
        # custom values: API clients name any document; rag.kb checks it (the choices are only a convenience)
        remove_choice = gr.Dropdown(added_choices(listing), multiselect=True, label=i18n("kb_remove_pick"),
                                    allow_custom_value=True, elem_id="kb-remove-choice")
        remove_btn = gr.Button(i18n("kb_remove_btn"), variant="stop", elem_id="kb-remove")
    if refusal:
        gr.Markdown(f"*{refusal}*", elem_id="kb-readonly")
    result = gr.JSON(visible=False)
    timer = gr.Timer(1.0, active=False)

    def submitted(outcome: dict):
        """The progress bar (and the poll) for an accepted change; the reasons for a refused one. Either way
        the picked files are cleared: a refused batch changed nothing and is picked again once fixed."""
        if outcome.get("error"):
            return kb_render.message(outcome["error"]), gr.skip(), None
        return kb_render.job_status(api.jobs.status(outcome["job"]["id"])), gr.Timer(active=True), None

    add_btn.click(api.add, [files, title, publisher, date, replace], [result], api_name="kb_add") \
        .then(submitted, [result], [status, timer, files], api_visibility="private")
    remove_btn.click(api.remove, [remove_choice], [result], api_name="kb_remove") \
        .then(submitted, [result], [status, timer, remove_choice], api_visibility="private")
    gr.api(api.status, api_name="kb_status")
    gr.api(api.documents, api_name="kb_documents")
    gr.api(api.document, api_name="document")
    return {"status": status, "table": table, "remove_choice": remove_choice, "timer": timer}


def refreshed(api: KbApi) -> tuple:
    """(status, table, remove choices, listing) after a change, or on page load."""
    listing = api.kb.listing()
    return (kb_render.job_status(api.jobs.status()), kb_render.documents_table(listing),
            gr.Dropdown(choices=added_choices(listing), value=[]), listing)
