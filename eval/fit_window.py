"""Fit how the answer's window narrows (rag/answer/window.json) on data, never by hand.

The span scorer may pick two or three sentences where one of them says it all: its similarity
grows with the text, most for English questions. ``shortest_sufficient`` answers with the
narrowest window inside the best one that scores at least RATIO of it and still holds the kind
of answer asked (a figure, a date, a reason). Per language, RATIO is
the value of the grid under which the most answerable dev questions (eval/user_questions.jsonl,
split dev) are answered accurately and concisely; ties go to the smaller ratio (shorter answers).
The test split and the regression set are never read here.

    python eval/fit_window.py              # re-fit and write rag/answer/window.json
    python eval/fit_window.py --dry-run    # print the figures only
"""
from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval import fitting  # noqa: E402
from eval.fit_scorer import USER_SET  # noqa: E402
from eval.harness import ServiceRunner, evaluate, load_dataset  # noqa: E402
from eval.metrics import summarize  # noqa: E402
from rag.answer.extractive import WINDOW_RATIOS  # noqa: E402

GRID = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def memoize_ranking(answerer) -> None:
    """Rank each question's spans once: only the narrowing changes between ratios."""
    ranked, memo = answerer.ranked, {}

    def cached(query, hits):
        key = (query.text, query.lang, tuple(h.chunk.chunk_id for h in hits))
        if key not in memo:
            memo[key] = ranked(query, hits)
        return memo[key]

    answerer.ranked = cached


def figures(service, items, lang: str) -> dict[float, float]:
    """Per ratio of the grid: the share of answerable dev questions answered accurately and concisely."""
    out = {}
    for ratio in GRID:
        service.answerer._window_ratios = {lang: ratio}
        out[ratio] = round(summarize(evaluate(ServiceRunner(service), items, lang))["concise_accuracy"], 4)
        print(f"  {lang} ratio {ratio}: {out[ratio]}", file=sys.stderr)
    return out


def main(argv=None) -> int:
    args = fitting.parser(__doc__, WINDOW_RATIOS).parse_args(argv)
    t0 = time.perf_counter()
    service = fitting.open_service()
    memoize_ranking(service.answerer)
    dev = [i for i in load_dataset(USER_SET) if i["split"] == "dev"]
    by_ratio = {lang: figures(service, dev, lang) for lang in ("zh", "en")}
    ratio = {lang: min(f, key=lambda r: (-f[r], r)) for lang, f in by_ratio.items()}
    data = {"version": 1, "ratio": ratio,
            "meta": {"fitted": date.today().isoformat(), "dev_items": len(dev),
                     "concise_accuracy_by_ratio": {lang: {str(r): v for r, v in f.items()} for lang, f in by_ratio.items()},
                     "command": "python eval/fit_window.py"}}
    print(json.dumps(data, indent=1))
    fitting.write(data, args, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
