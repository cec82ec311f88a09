"""The ``rag`` command: index, ask, info (and batch, ui, eval, registered by their modules)."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import textwrap
import time

# Commands that live with their own layer register themselves here.
EXTRA_COMMANDS = ("rag.kb_cli", "rag.batch", "ui.app", "eval.harness")

EXAMPLES = """examples:
  rag ask "甘肃省2030年森林覆盖率目标是多少？"
  rag ask "What is Gansu's forest coverage target for 2030?" --json
  rag ask "那2025年呢？" --history earlier-questions.txt   # a follow-up in a conversation
  rag index --corpus ~/my-policies          # index your own folder
  rag add 青海湿地方案.pdf --date 2025-06     # add a document to the knowledge base
  rag info
"""


class UserError(Exception):
    """An error to report in one line, without a traceback."""


def common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    g = parent.add_argument_group("knowledge base")
    g.add_argument("--corpus", metavar="DIR", help="folder of .txt/.md/.pdf/.docx documents (default: the bundled corpus; env RAG_CORPUS_DIR)")
    g.add_argument("--index-dir", metavar="DIR", help="where the index is stored (default: per corpus under RAG_CACHE_DIR/indexes; env RAG_INDEX_DIR)")
    return parent


def query_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    g = parent.add_argument_group("retrieval and answering")
    g.add_argument("-k", "--top-k", type=int, metavar="N", help="passages to retrieve (default 5; env RAG_TOP_K)")
    g.add_argument("--mode", choices=["hybrid", "dense", "lexical"], help="retrieval mode (default hybrid)")
    g.add_argument("--doc", action="append", metavar="FILE", help="only search this document (repeatable; see `rag info`)")
    g.add_argument("--answer", choices=["extractive", "llm"], dest="answer_mode",
                   help="extractive (offline, default) or llm (needs RAG_LLM_BASE_URL and RAG_LLM_MODEL)")
    return parent


def settings_from(args: argparse.Namespace, **extra):
    from .limits import check_k
    from .settings import get_settings

    check_k(getattr(args, "top_k", None))  # per-call bounds first: a clear message, not pydantic's

    overrides = {
        "corpus_dir": getattr(args, "corpus", None),
        "index_dir": getattr(args, "index_dir", None),
        "top_k": getattr(args, "top_k", None),
        "retrieval_mode": getattr(args, "mode", None),
        "answer_mode": getattr(args, "answer_mode", None),
        **extra,
    }
    try:
        return get_settings(**overrides)
    except Exception as exc:  # pydantic ValidationError: say which setting is wrong
        raise UserError(f"invalid setting: {exc}") from exc


def open_service(args: argparse.Namespace, **extra):
    from .service import RagService

    return RagService.open(settings_from(args, **extra))


# ---------------------------------------------------------------------------- index
def cmd_index(args: argparse.Namespace) -> int:
    from .service import RagService

    settings = settings_from(args, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap)
    print(f"Corpus: {settings.corpus_dir}", file=sys.stderr)
    progress = None if not args.no_progress else False
    if args.ray is not None or settings.ray_address:
        from index.ray_build import build_index_ray

        report = build_index_ray(settings, args.ray or None, rebuild=args.rebuild, progress=progress)
    else:
        report = RagService.build(settings, rebuild=args.rebuild, progress=progress)
    print(report.summary())
    return 0


# ---------------------------------------------------------------------------- ask
def cmd_ask(args: argparse.Namespace) -> int:
    from .query import validate_question

    settings = settings_from(args)
    validate_question(args.question, settings.max_question_chars)  # before any slow loading
    args.history = read_history(args.history)
    service = open_service(args)
    if settings.answer_mode == "llm" and not args.json:
        return _ask_streaming(args, service)
    answer = service.ask(args.question, k=args.top_k, mode=args.mode, docs=args.doc, answer_mode=args.answer_mode,
                         history=args.history)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_answer(answer, service, show_contexts=args.contexts))
    return 0


def _ask_streaming(args: argparse.Namespace, service) -> int:
    """LLM answers: show the text as it is written, then the verified answer if verification changed it."""
    streamed, answer = [], None
    for kind, payload in service.ask_stream(args.question, k=args.top_k, mode=args.mode, docs=args.doc, answer_mode="llm",
                                            history=args.history):
        if kind == "delta":
            streamed.append(payload)
            print(payload, end="", flush=True)
        elif kind == "answer":
            answer = payload
    if streamed:
        print()
    changed = "".join(streamed).strip() != answer.text.strip()
    if changed and streamed:
        print("⚠ 核对后更正的回答：" if answer.lang == "zh" else "! Verification changed the answer; the verified answer:")
    print(render_answer(answer, service, show_contexts=args.contexts, show_text=changed))
    return 0


def read_history(source: str | None) -> list | None:
    """--history FILE|-: earlier turns of the conversation (see rag.conversation.parse_history_text),
    checked against the request bounds before anything is loaded."""
    from .conversation import parse_history_text
    from .limits import check_history

    if source is None:
        return None
    if source == "-":
        text, name = sys.stdin.read(), "history (stdin)"
    else:
        try:
            with open(source, "rb") as f:
                raw = f.read()
        except OSError as exc:
            raise UserError(f"cannot read the history file {source}: {exc.strerror or exc}") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UserError(f"the history file {source} is not UTF-8 text") from None
        name = f"history file {source}"
    try:
        return check_history(parse_history_text(text, name))
    except ValueError as exc:
        raise UserError(f"{name}: {exc}" if not str(exc).startswith(name) else str(exc)) from None


def render_answer(answer, service, show_contexts: bool = False, show_text: bool = True) -> str:
    zh = answer.lang == "zh"
    lines = []
    if answer.search_question:
        lines.append(("检索问题：" if zh else "Searched as: ") + answer.search_question)
    if show_text:  # False when the text was already streamed
        lines.append(answer.text)
    for note in answer.notes:
        lines.append(("⚠ " if zh else "! ") + note)
    if answer.citations:
        lines.append("")
        lines.append("引用：" if zh else "Sources:")
        for c in answer.citations:
            lines.append(f"  [{c.n}] {_source_label(c.chunk, service)}")
            lines.extend(textwrap.wrap(f"“{c.sentence}”", width=70, initial_indent="      ", subsequent_indent="      "))
    hits = answer.hits if (answer.refused or show_contexts) else []
    if hits:
        lines.append("")
        lines.append(("最接近的段落：" if zh else "Closest passages:") if answer.refused else ("检索到的段落：" if zh else "Retrieved passages:"))
        for i, h in enumerate(hits[:5], 1):
            snippet = h.chunk.text.replace("\n", " ")
            snippet = snippet[:120] + ("…" if len(snippet) > 120 else "")
            lines.append(f"  {i}. {_source_label(h.chunk, service)}  [{h.reason} {h.score:.3f}]")
            lines.extend(textwrap.wrap(snippet, width=70, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


def _source_label(chunk, service) -> str:
    doc = service.store.documents.get(chunk.doc_id)
    section = " > ".join(chunk.section)
    date = f", {doc.date}" if doc is not None and doc.date else ""
    return f"{chunk.title} ({chunk.doc_id}{date})" + (f" · {section}" if section else "")


# ---------------------------------------------------------------------------- info
def cmd_info(args: argparse.Namespace) -> int:
    service = open_service(args)
    info = service.info()
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    emb, st = info["embedding"], info["settings"]
    age = time.time() - (info["created_at"] or time.time())
    print(f"Index:      {info['index']}  (built {age / 60:.0f} min ago, {info['faiss']})")
    print(f"Corpus:     {info['corpus']}  (read-only)")
    print(f"Added:      {info['user_corpus']}  (`rag add` / `rag remove`)")
    print(f"Embedding:  {emb['backend']}:{emb['model']} (dim {emb['dim']}, prompts {emb['query_prompt']!r}/{emb['passage_prompt']!r})")
    print(f"Chunking:   {st['chunk_size']} tokens, overlap {st['chunk_overlap']} ({st['tokenizer']})")
    print(f"Documents:  {len(info['documents'])}, chunks: {info['chunks']}")
    for d in info["documents"]:
        meta = ", ".join(x for x in (d["publisher"], d["date"]) if x)
        print(f"  {d['doc']}  {d['chunks']:4d} chunks  {d['title']}" + (f"  ({meta})" if meta else ""))
    for doc, why in sorted(service.store.manifest.get("skipped", {}).items()):
        print(f"  skipped {doc}: {why.get('reason', '')} (retried when the file changes, or with `rag index --rebuild`)")
    for doc, why in sorted(service.store.manifest.get("conflicts", {}).items()):
        print(f"  left out {doc}: {why}")
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag",
        description="绿策问答 — cited answers from Chinese green-development policy documents, offline.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common, query = common_options(), query_options()

    p = sub.add_parser("index", parents=[common], help="build or update the index",
                       description="Build the index, or update it: only added or changed documents are re-embedded, removed ones dropped.")
    p.add_argument("--rebuild", action="store_true", help="re-chunk everything (needed after changing the embedding model)")
    p.add_argument("--chunk-size", type=int, metavar="TOKENS", help="chunk size in tiktoken tokens (default 320)")
    p.add_argument("--chunk-overlap", type=int, metavar="TOKENS", help="overlap between chunks in tokens (default 48)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="read, chunk and embed the new documents as a Ray Data pipeline, the embedder in a pool of "
                        "actors, then write the index here as usual (the same index as without --ray). ADDRESS: a "
                        "cluster, ray://HOST:10001 or HOST:6379 (see `ray start --head`); without it RAG_RAY_ADDRESS, "
                        "else a local Ray instance on 2 CPUs. RAG_RAY_ADDRESS alone also turns this on. "
                        "Needs the optional extra: pip install -e '.[ray]'")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", parents=[common, query], help="answer one question with citations",
                       description="Answer a question (Chinese or English) from the documents, with numbered citations. "
                                   "Builds or updates the index first when needed.",
                       epilog='example: rag ask "甘肃省2030年森林覆盖率目标是多少？"')
    p.add_argument("question", help="the question, in Chinese or English")
    p.add_argument("--json", action="store_true", help="print the answer, citations and retrieved passages as JSON")
    p.add_argument("--contexts", action="store_true", help="also list the retrieved passages")
    p.add_argument("--history", metavar="FILE", help="earlier turns of the conversation, oldest first ('-' reads stdin): "
                   "one question a line, JSON lines (questions, or answers as `rag ask --json` prints them), or a "
                   "JSON list; a follow-up such as 那2025年呢？ is then resolved from them")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("info", parents=[common], help="what is indexed, with which model and settings")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_info)

    for module_name in EXTRA_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, "register"):
            module.register(sub, common, query)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = sys.argv[1:] if argv is None else argv
    as_json = "--json" in argv
    try:
        check_arguments(argv)
    except UserError as exc:
        return report_error(exc, as_json)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from .documents import DocumentError
    from .embeddings import EmbeddingError
    from .query import QuestionError
    from index.store import IndexError_

    try:
        return args.func(args) or 0
    except (UserError, DocumentError, EmbeddingError, QuestionError, IndexError_, ValueError) as exc:
        return report_error(exc, getattr(args, "json", False))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def check_arguments(argv: list[str]) -> None:
    """Arguments that are not valid UTF-8 (e.g. from a GBK terminal) arrive as lone surrogates
    and would fail much later with "surrogates not allowed"; say what is wrong up front."""
    for position, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise UserError(f"argument {position} ({shown!r}) is not valid UTF-8; set the terminal to UTF-8 "
                            "(e.g. LANG=C.UTF-8) or convert the text, e.g. with iconv -f GBK -t UTF-8") from None


def report_error(exc: BaseException, as_json: bool = False) -> int:
    """One line on stderr; with --json also {"error": …} on stdout, so scripts always get JSON."""
    message = str(exc)
    print(f"error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": message, "type": type(exc).__name__}, ensure_ascii=False))
    return 2


if __name__ == "__main__":
    # `python -m rag.cli`: this file runs as __main__, a copy of rag.cli; batch and ui raise the
    # UserError of rag.cli, so run that module's main for its error handling to recognise them.
    from rag.cli import main as _main

    sys.exit(_main())
