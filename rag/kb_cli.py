"""`rag add FILE…` and `rag remove DOC…`: change the knowledge base from the terminal.

The same checks and folders as the UI's Documents tab (``rag.kb``); the index is updated at
once and incrementally: only the added documents are embedded.
"""
from __future__ import annotations

import sys
from pathlib import Path


def register(sub, common, query) -> None:
    p = sub.add_parser("add", parents=[common], help="add documents (.pdf/.docx/.txt/.md) and index them",
                       description="Copy documents into your folder of added documents (RAG_USER_CORPUS_DIR) and "
                                   "update the index; only they are embedded. Files are checked by content first: "
                                   "if any is refused, none is added.",
                       epilog='example: rag add 青海湿地方案.pdf --publisher 青海省林草局 --date 2025-06')
    p.add_argument("files", nargs="+", metavar="FILE", help="documents to add")
    p.add_argument("--title", help="the document's title (one file only; default: from the document)")
    p.add_argument("--publisher", help="who published it (default: from the document, when it says)")
    p.add_argument("--date", help="publication date: 2025-04-21, 2025-04 or 2025")
    p.add_argument("--replace", action="store_true", help="replace an added document of the same name")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", parents=[common], help="remove added documents from the knowledge base",
                       description="Delete documents you added (by name, see `rag info`) and drop their chunks "
                                   "from the index. Documents of the base corpus are read-only.")
    p.add_argument("docs", nargs="+", metavar="DOC", help="document names as `rag info` lists them")
    p.set_defaults(func=cmd_remove)


def _kb(args):
    from rag.cli import settings_from

    from .kb import KnowledgeBase

    return KnowledgeBase(settings_from(args))


def cmd_add(args) -> int:
    from rag.cli import UserError

    from .kb import added_summary

    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        raise UserError(f"no such file: {', '.join(missing)}")
    kb = _kb(args)
    staged = kb.stage([(Path(f), Path(f).name) for f in args.files], args.title, args.publisher, args.date, args.replace)
    names = kb.commit(staged)
    print(f"Added to {kb.user_dir}: {', '.join(names)}", file=sys.stderr)
    report = kb.update_index()
    print(report.summary())
    skipped = [row for row in added_summary(names, report) if not row["indexed"]]
    for row in skipped:
        print(f"Not indexed: {row['doc']}: {row['reason']}", file=sys.stderr)
    return 0


def cmd_remove(args) -> int:
    kb = _kb(args)
    removed = kb.remove(args.docs)
    print(f"Removed from {kb.user_dir}: {', '.join(removed)}", file=sys.stderr)
    print(kb.update_index().summary())
    return 0
