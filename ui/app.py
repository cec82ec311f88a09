"""`rag ui`: the browser chat (Gradio Blocks), fully offline, on 127.0.0.1 by default.

One RagService (index + embedding model) is loaded at start and shared by every session;
Gradio's queue bounds how many questions run at once.
"""
import os

# Before gradio is imported: its analytics and version check would call out to the internet.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import logging
import socket
import sys
import time
from pathlib import Path

from rag.limits import check_request, recent_history
from rag.text import detect_language

from . import render
from .auth import EditPolicy, exposure_warning, parse_auth
from .feedback import COMMENT_MAX_CHARS, FeedbackLog
from .texts import EXAMPLES, I18N_TEXT

log = logging.getLogger("policy_qa.ui")
HERE = Path(__file__).resolve().parent
# System fonts only, CJK first: no web font is fetched.
FONTS = ["PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC",
         "WenQuanYi Micro Hei", "system-ui", "sans-serif"]
FONTS_MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Noto Sans Mono CJK SC", "monospace"]


def friendly_errors():
    """The errors a user can cause or fix (bad question, missing index, model) — shown, not raised."""
    from index.store import IndexError_
    from rag.embeddings import EmbeddingError
    from rag.query import QuestionError

    return (QuestionError, ValueError, IndexError_, EmbeddingError)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, friendly_errors()):
        return str(exc)
    log.exception("unexpected error while answering")
    return f"internal error ({type(exc).__name__}); the server log has details"


def status_line(service) -> str:
    info = service.info()
    emb = info.get("embedding") or {}
    age = time.time() - (info.get("created_at") or time.time())
    age_text = f"{age / 60:.0f} min" if age < 7200 else f"{age / 3600:.0f} h" if age < 172800 else f"{age / 86400:.0f} d"
    return (f"文档 documents {len(info['documents'])} · 段落 chunks {info['chunks']} · "
            f"模型 model {emb.get('backend', '?')}:{emb.get('model', '?')} · 索引 index {age_text}")


def doc_choices(service) -> list[tuple[str, str]]:
    return [(d.title, d.doc_id) for d in sorted(service.store.catalog.values(), key=lambda d: d.doc_id)]


def build_app(service, *, concurrency: int = 4, policy: EditPolicy | None = None):
    """The whole UI. ``policy`` says who may change the documents (default: local use, RAG_UI_EDITING)."""
    import gradio as gr

    from . import kb_tab, reader  # they import gradio: not at module level, so `rag ask` starts fast

    i18n = gr.I18n(**I18N_TEXT)
    feedback = FeedbackLog(service.settings.feedback_path, service.settings.feedback_max_chars)
    settings = service.settings
    llm_ok = settings.llm_configured
    kb_api = kb_tab.KbApi(service, policy or EditPolicy(settings.ui_editing))

    def ask_stream(question, chat, turns, k, mode, docs, answer_mode, scope=None):
        """Stream one answer into the chat; the sources panel follows the stream. ``scope``: the one document's title."""
        documents = service.store.documents  # the current version's: the index may change while serving
        chat, turns = list(chat or []), list(turns or [])
        question = (question or "").strip()
        lang = detect_language(question) if question else "zh"
        if not question:
            yield chat, turns, gr.skip(), gr.skip()
            return
        turn = len(turns)
        chat += [{"role": "user", "content": render.user_message(question, scope, lang)},
                 {"role": "assistant", "content": render.t(lang, "retrieving")}]
        yield chat, turns, gr.skip(), ""
        text = ""
        try:
            events = service.ask_stream(question, k=int(k) if k else None, mode=mode or None, docs=docs or None,
                                        answer_mode=answer_mode or None,
                                        history=recent_history(x["turn"] for x in turns if x.get("turn")))
            for kind, payload in events:
                if kind == "retrieved":
                    yield chat, turns, render.retrieved_preview(payload, lang, documents), gr.skip()
                elif kind == "delta":
                    text += payload
                    chat[-1] = {"role": "assistant", "content": render.link_markers(text, turn)}
                    yield chat, turns, gr.skip(), gr.skip()
                elif kind == "answer":
                    answer = payload
                    chat[-1] = {"role": "assistant", "content": render.chat_message(answer, turn)}
                    turns.append({"question": question, "lang": answer.lang, "chat_index": len(chat) - 1,
                                  "answer": answer.to_dict(), "turn": answer.as_turn(),
                                  "sources_html": render.turn_sources(answer, turn, documents)})
                    yield chat, turns, render.sources_panel(turns, documents, answer.lang), gr.skip()
        except Exception as exc:  # shown in the chat; the server keeps serving
            chat[-1] = {"role": "assistant", "content": render.error_message(_error_text(exc), lang)}
            yield chat, turns, render.sources_panel(turns, documents, lang), gr.skip()

    def api_ask(question: str, k: int = 0, mode: str = "", docs: list[str] | None = None,
                answer_mode: str = "", history: list | None = None) -> dict:
        """Answer one question; returns Answer.to_dict(), or {"error": …, "status": 400|500} when it cannot.

        ``history``: the conversation's earlier turns, oldest first — questions, or earlier replies of
        this API (question/answer/citations; the rest of a reply is ignored). Every input is checked
        (types, k 1–50, history and question length: rag.limits) before any work.
        """
        try:
            request = check_request(settings, question, k=None if k == 0 else k, mode=mode, docs=docs,
                                    answer_mode=answer_mode, history=history)
            return service.ask(request.pop("question"), **request).to_dict()
        except Exception as exc:
            status = 400 if isinstance(exc, friendly_errors()) else 500
            return {"error": _error_text(exc), "status": status, "question": question if isinstance(question, str) else "",
                    "answer": "", "refused": True, "citations": [], "contexts": []}

    def on_like(turns, data: gr.LikeData):
        entry = _turn_for(turns, data.index)
        if entry is None:
            return None, gr.update(visible=False)
        verdict = "up" if data.liked in (True, "Like") else "down"
        feedback.write(entry, verdict)
        return {"turn": turns.index(entry), "verdict": verdict}, gr.update(visible=True)

    def on_comment(turns, pending, comment):
        if pending and (comment or "").strip():
            feedback.write(turns[pending["turn"]], pending["verdict"], comment.strip())
        return None, gr.update(visible=False), ""

    def clear():
        return [], [], render.sources_panel([], {}), None, gr.update(visible=False)

    def kb_refresh(activate: bool):
        """After a change (timer) or on page load: progress, table, and every list of documents."""
        busy = kb_api.jobs.busy()
        if busy and not activate:
            return kb_render_status(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        status_html, table, choices, _ = kb_tab.refreshed(kb_api)
        return (status_html, table, choices, gr.Dropdown(choices=doc_choices(service)), status_line(service),
                gr.Timer(active=busy))

    def kb_render_status():
        from .kb_render import job_status

        return job_status(kb_api.jobs.status())

    with gr.Blocks(title="绿策问答 · Policy Q&A", analytics_enabled=False) as demo:
        turns = gr.State([])
        pending = gr.State(None)
        gr.Markdown(i18n("title"))
        status_md = gr.Markdown(status_line(service), elem_id="status-line")
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab(i18n("tab_chat"), id="chat", elem_id="tab-chat"):
                c = _chat_tab(gr, i18n, service)
            with gr.Tab(i18n("tab_docs"), id="docs", elem_id="tab-docs"):
                kb = kb_tab.build_tab(kb_api, i18n)
        view = reader.build(gr, i18n, service)

        inputs = [c["question"], c["chat"], turns, c["k"], c["mode"], c["docs"], c["answer_mode"]]
        outputs = [c["chat"], turns, c["sources"], c["question"]]
        for trigger in (c["question"].submit, c["send"].click):
            trigger(ask_stream, inputs, outputs, api_visibility="private")
        c["clear"].click(clear, None, [c["chat"], turns, c["sources"], pending, c["comment_row"]], api_visibility="private")
        c["chat"].like(on_like, [turns], [pending, c["comment_row"]], api_visibility="private")
        for trigger in (c["comment"].submit, c["comment_btn"].click):
            trigger(on_comment, [turns, pending, c["comment"]], [pending, c["comment_row"], c["comment"]],
                    api_visibility="private")
        gr.api(api_ask, api_name="ask")

        def ask_in_doc(question, doc, chat, turns_, k, mode, answer_mode):
            """A question restricted to the document being read (like `rag ask --doc`)."""
            found = service.store.documents.get(doc or "")
            yield from ask_stream(question, chat, turns_, k, mode, [doc] if doc else None, answer_mode,
                                  scope=found.title if found else doc)

        reader.wire(gr, view, tabs).then(
            ask_in_doc, [view["question"], view["doc"], c["chat"], turns, c["k"], c["mode"], c["answer_mode"]],
            [c["chat"], turns, c["sources"], view["question"]], api_visibility="private")
        refresh_outputs = [kb["status"], kb["table"], kb["remove_choice"], c["docs"], status_md, kb["timer"]]
        kb["timer"].tick(lambda: kb_refresh(False), None, refresh_outputs, api_visibility="private")
        demo.load(lambda: kb_refresh(True), None, refresh_outputs, api_visibility="private")
    demo.queue(default_concurrency_limit=concurrency)
    demo.policy_qa_i18n = i18n
    # Gradio refuses far larger uploads itself (bounding disk use); ours says the limit for the rest
    demo.policy_qa_max_file_size = int(settings.max_upload_mb * 2e6)
    return demo


def _chat_tab(gr, i18n, service) -> dict:
    """The chat, its settings and the sources panel; returns the components by name."""
    settings, llm_ok = service.settings, service.settings.llm_configured
    c = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            c["chat"] = gr.Chatbot(elem_id="chat", label=i18n("chat"), height=560, buttons=["copy"],
                                   feedback_options=("Like", "Dislike"), placeholder=i18n("placeholder"))
            with gr.Row():
                c["question"] = gr.Textbox(elem_id="question", show_label=False, placeholder=i18n("ask_placeholder"),
                                           scale=5, max_lines=4, submit_btn=False)
                c["send"] = gr.Button(i18n("send"), variant="primary", elem_id="send", scale=1, min_width=80)
                c["clear"] = gr.Button(i18n("clear"), elem_id="clear", scale=1, min_width=80)
            with gr.Row(visible=False) as c["comment_row"]:
                c["comment"] = gr.Textbox(show_label=False, placeholder=i18n("comment"), scale=5, elem_id="comment",
                                          max_length=COMMENT_MAX_CHARS)
                c["comment_btn"] = gr.Button(i18n("send_comment"), scale=1, min_width=80)
            gr.Examples(EXAMPLES, inputs=[c["question"]], label=i18n("examples"))
            with gr.Accordion(i18n("settings"), open=False):
                c["k"] = gr.Slider(1, 20, value=settings.top_k, step=1, label=i18n("top_k"))
                c["mode"] = gr.Radio(["hybrid", "dense", "lexical"], value=settings.retrieval_mode, label=i18n("mode"))
                c["docs"] = gr.Dropdown(doc_choices(service), multiselect=True, value=[], label=i18n("docs"))
                c["answer_mode"] = gr.Radio(["extractive", "llm"], value=settings.answer_mode if llm_ok else "extractive",
                                            interactive=llm_ok, label=i18n("answer_mode"),
                                            info=None if llm_ok else i18n("llm_off"))
        with gr.Column(scale=2):
            c["sources"] = gr.HTML(render.sources_panel([], {}), elem_id="sources", label=i18n("sources"))
    return c


def _turn_for(turns, index):
    index = index[0] if isinstance(index, (list, tuple)) else index
    for entry in turns or []:
        if entry["chat_index"] == index:
            return entry
    return None


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve(service, host: str = "127.0.0.1", port: int | None = None, *, concurrency: int = 4, auth=None,
          policy: EditPolicy | None = None):
    """Start the app in a background thread (tests, load test); returns (demo, url). Stop with demo.close()."""
    port = port or free_port(host)
    policy = policy or EditPolicy(service.settings.ui_editing, host, bool(auth))
    demo = launch(build_app(service, concurrency=concurrency, policy=policy), host, port, block=False, quiet=True, auth=auth)
    return demo, f"http://{host}:{port}/"


def launch(demo, host: str = "127.0.0.1", port: int = 7860, *, block: bool = True, quiet: bool = False, auth=None):
    """Start the server; offline: no share link, no external assets, no SSR node server.

    ``auth``: [(user, password), …] for Gradio's login page (the /ask API then needs it too).
    """
    import gradio as gr

    warning = exposure_warning(host, auth)
    if warning:
        log.warning(warning)
        print(warning, file=sys.stderr, flush=True)

    theme = gr.themes.Soft(primary_hue="green", font=FONTS, font_mono=FONTS_MONO)
    head = f"<script>{(HERE / 'app.js').read_text(encoding='utf-8')}</script>"
    demo.launch(server_name=host, server_port=port, share=False, inbrowser=False, prevent_thread_lock=not block,
                theme=theme, css=(HERE / "app.css").read_text(encoding="utf-8"), head=head, i18n=demo.policy_qa_i18n,
                ssr_mode=False, footer_links=["api", "settings"], show_error=False, quiet=quiet, auth=auth,
                max_file_size=getattr(demo, "policy_qa_max_file_size", None),
                auth_message="绿策问答 · Policy Q&A" if auth else None)
    return demo


# ---------------------------------------------------------------------------- CLI
def register(sub, common, query) -> None:
    p = sub.add_parser("ui", parents=[common, query], help="chat with the documents in the browser",
                       description="Start the browser UI (Gradio) on this machine. Works offline; nothing is shared.",
                       epilog="example: rag ui --port 7860   then open http://127.0.0.1:7860")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--concurrency", type=int, default=4, metavar="N", help="questions answered at the same time (default 4)")
    p.set_defaults(func=cmd_ui)


def cmd_ui(args) -> int:
    from rag.cli import UserError, open_service, settings_from

    if not port_free(args.host, args.port):
        raise UserError(f"port {args.port} on {args.host} is already in use; choose another with --port")
    settings = settings_from(args)
    auth = parse_auth(settings.ui_auth.get_secret_value() if settings.ui_auth else None)
    service = open_service(args)
    policy = EditPolicy(settings.ui_editing, args.host, bool(auth))
    demo = build_app(service, concurrency=max(1, args.concurrency), policy=policy)
    login = f" (login required: {len(auth)} user(s))" if auth else ""
    print(f"绿策问答 UI: http://{args.host}:{args.port}{login}  (Ctrl+C to stop)", flush=True)
    launch(demo, args.host, args.port, block=True, quiet=True, auth=auth)
    return 0
