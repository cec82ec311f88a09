"""What the fit scripts (eval/fit_*.py) share: their command line, the service they fit on (the
bundled corpus, never the user's documents) and how a fit is written."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parser(doc: str, out: Path) -> argparse.ArgumentParser:
    """--dry-run and --out, with the script's docstring as its help."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help=f"print the figures, do not write {out.name}")
    ap.add_argument("--out", default=str(out), help=f"where to write (default {out.relative_to(ROOT)})")
    return ap


def open_service():
    """The service over the bundled corpus (``eval_settings``), logging to stderr."""
    from eval.harness import eval_settings, to_stderr
    from rag.service import RagService
    from rag.settings import get_settings

    return RagService.open(eval_settings(get_settings(), log=to_stderr), log=to_stderr)


def write(data: dict, args, t0: float) -> None:
    """Write the fit as JSON unless --dry-run, and say where and after how long."""
    if args.dry_run:
        return
    Path(args.out).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
