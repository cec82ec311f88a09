"""Rendering of evaluation results: the terminal table, summary.md, results.jsonl and charts."""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

from .metrics import failure_kind as kind, group, summarize

# (key, column title, kind): the headline metrics, in the order a reader scans them
MAIN = [
    ("hit@1", "hit@1", "pct"), ("hit@5", "hit@5", "pct"), ("mrr@10", "MRR@10", "num"),
    ("accuracy", "acc", "pct"), ("concise_accuracy", "concise", "pct"), ("groundedness", "grounded", "pct"),
    ("citation_precision", "cit.prec", "pct"), ("correct_refusal", "refuse ok", "pct"),
    ("false_refusal", "false ref", "pct"), ("total_ms_p50", "p50 ms", "ms"), ("total_ms_p95", "p95 ms", "ms"),
]
STAGES = ("embed_ms", "search_ms", "answer_ms", "total_ms")
FAILURES_LISTED = 60


def fmt(value, kind: str = "pct") -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.1f}"
    if kind == "ms":
        return f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return f"{value:.3f}"


def _ordered(rows: Sequence[dict], key: str, preferred: Sequence[str] | None = None) -> list[str]:
    seen = list(dict.fromkeys(r[key] for r in rows))
    return [x for x in preferred if x in seen] if preferred else sorted(seen)


def terminal_table(rows: Sequence[dict], configs: Sequence[str], langs: Sequence[str]) -> str:
    by = group(rows, "config", "lang")
    head = ["config", "lang", "n"] + [title for _, title, _ in MAIN]
    body = []
    for lang in langs:
        for c in configs:
            if (c, lang) in by:
                s = summarize(by[(c, lang)])
                body.append([c, lang, str(s["n"])] + [fmt(s[k], kind) for k, _, kind in MAIN])
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(head), line(["-" * w for w in widths])] + [line(r) for r in body]
    out.append("(rates in %; acc/concise/false ref over answerable items, refuse ok over unanswerable ones)")
    return "\n".join(out)


def _md_table(head: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in body]


def _main_tables(rows, configs, langs) -> list[str]:
    by = group(rows, "config", "lang")
    out = []
    for lang in langs:
        out += [f"### {'Chinese questions (question)' if lang == 'zh' else 'English questions (question_en)'}", ""]
        body = []
        for c in configs:
            if (c, lang) in by:
                s = summarize(by[(c, lang)])
                body.append([f"**{c}**", str(s["n"])] + [fmt(s[k], kind) for k, _, kind in MAIN])
        out += _md_table(["config", "n"] + [t for _, t, _ in MAIN], body) + [""]
    return out


def _zh_vs_en(rows, configs) -> list[str]:
    by = group(rows, "config", "lang")
    keys = [("hit@5", "pct"), ("accuracy", "pct"), ("concise_accuracy", "pct"), ("correct_refusal", "pct"), ("false_refusal", "pct")]
    body = []
    for c in configs:
        if (c, "zh") in by and (c, "en") in by:
            # the same items in both languages, so the gap is the language, not the questions
            en_ids = {r["id"] for r in by[(c, "en")]}
            zh = summarize([r for r in by[(c, "zh")] if r["id"] in en_ids])
            en = summarize(by[(c, "en")])
            body.append([c] + [f"{fmt(zh[k], kd)} → {fmt(en[k], kd)}" for k, kd in keys])
    if not body:
        return []
    return (["## Chinese vs English on the same items (zh → en)", ""]
            + _md_table(["config", "hit@5", "acc", "concise", "refuse ok", "false ref"], body) + [""])


def _latency(rows, configs, langs) -> list[str]:
    by = group(rows, "config", "lang")
    body = []
    for lang in langs:
        for c in configs:
            if (c, lang) in by:
                s = summarize(by[(c, lang)])
                body.append([c, lang] + [f"{fmt(s[f'{st}_p50'], 'ms')} / {fmt(s[f'{st}_p95'], 'ms')}" for st in STAGES])
    return (["## Latency per stage (p50 / p95, ms)", ""]
            + _md_table(["config", "lang", *STAGES], body) + [""])


def _breakdown(rows, configs, langs, key: str, title: str) -> list[str]:
    out = [f"## By {title}", "", "Each cell: accuracy / hit@5 (unanswerable rows: correct-refusal rate), n in brackets.", ""]
    for lang in langs:
        sub = [r for r in rows if r["lang"] == lang]
        if not sub:
            continue
        out += [f"### {lang}", ""]
        by = group(sub, "config", key)
        body = []
        for value in _ordered(sub, key):
            cells = [f"{value} ({sum(1 for r in sub if r[key] == value and r['config'] == configs[0])})"]
            for c in configs:
                part = by.get((c, value))
                if not part:
                    cells.append("–")
                    continue
                s = summarize(part)
                if s["n_answerable"] == 0:
                    cells.append(f"refuse {fmt(s['correct_refusal'])}")
                else:
                    cells.append(f"{fmt(s['accuracy'])} / {fmt(s['hit@5'])}")
            body.append(cells)
        out += _md_table([title, *configs], body) + [""]
    return out


def _failure_kinds(rows, configs) -> list[str]:
    kinds = Counter(kind(r["why_failed"]) for r in rows if r["why_failed"])
    order = [k for k, _ in kinds.most_common()]
    by = group(rows, "config")
    body = []
    for c in configs:
        counts = Counter(kind(r["why_failed"]) for r in by.get((c,), []) if r["why_failed"])
        body.append([c] + [str(counts.get(k, 0)) for k in order])
    return ["## Failure kinds (all languages)", ""] + _md_table(["config", *order], body) + [""]


def _failures(rows, config: str) -> list[str]:
    failed = [r for r in rows if r["config"] == config and r["why_failed"]]
    out = [f"## Failures of `{config}` ({len(failed)})", "",
           "Listed by language and id; `rank` is the rank of the first passage holding the evidence in the top 10.", ""]
    for r in failed[:FAILURES_LISTED]:
        shown = r["answer"] or ("(refused) " + r["message"])
        shown = " ".join(shown.split())
        shown = shown if len(shown) <= 160 else shown[:159] + "…"
        out.append(f"- **{r['id']}** [{r['lang']}, {r['type']}, {r['doc'][:3]}, rank {r['hit_rank'] or '–'}] "
                   f"{r['question']}  \n  answer: {shown}  \n  expected: {r['gold']}  \n  → *{r['why_failed']}*")
    if len(failed) > FAILURES_LISTED:
        out.append(f"- … {len(failed) - FAILURES_LISTED} more in results.jsonl")
    return out + [""]


def _held_out(rows, config: str) -> list[str]:
    """A held-out split's failures are counted, not listed: its questions are read only as
    totals while the answerer changes, and a summary is what one reads."""
    failed = sum(1 for r in rows if r["config"] == config and r["why_failed"])
    return [f"## Failures of `{config}` ({failed})", "",
            "Not listed: this split is held out, and only its totals are read while the answer stage changes. "
            "Each question's row is in results.jsonl.", ""]


def summary_markdown(rows: Sequence[dict], meta: dict, charts: Sequence[str] = ()) -> str:
    configs, langs = meta["configs"], meta["langs"]
    out = [
        f"# Evaluation report — {meta['date']}", "",
        f"`{meta['command']}` · {meta['items']} items from `{Path(meta['dataset']).name}` · languages {', '.join(langs)} · "
        f"answers {meta['answer_mode']}, k={meta['top_k']} · {meta['seconds']} s", "",
        "Metrics: **hit@1/hit@5/MRR@10** — the first of 10 retrieved passages containing the evidence; "
        "**acc** — every must_include fact is in the answer; **concise** — accurate and at most 3× the gold "
        "answer + 60 characters, not a pasted passage; **grounded** — the facts the answer states are in its "
        "cited passages; **cit.prec** — share of citations whose passage holds the evidence or a fact; "
        "**refuse ok** — unanswerable items refused; **false ref** — answerable items refused. "
        "All matching after NFKC, lower case, whitespace removed. Rates in %.", "",
        "## Configurations", "",
    ]
    out += _main_tables(rows, configs, langs)
    out += _zh_vs_en(rows, configs)
    out += _latency(rows, configs, langs)
    out += _breakdown(rows, configs, langs, "type", "type")
    out += _breakdown(rows, configs, langs, "doc", "doc")
    out += _failure_kinds(rows, configs)
    out += _held_out(rows, configs[0]) if meta.get("held_out") else _failures(rows, configs[0])
    if charts:
        out += ["## Charts", ""] + [f"![{c}]({c})" for c in charts] + [""]
    return "\n".join(out)


def charts(rows: Sequence[dict], configs: Sequence[str], langs: Sequence[str], folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # no display in CI or over ssh
    import matplotlib.pyplot as plt
    import numpy as np

    by = group(rows, "config", "lang")
    made = []
    keys = [("hit@5", "hit@5"), ("mrr@10", "MRR@10"), ("accuracy", "accuracy"), ("concise_accuracy", "concise"),
            ("citation_precision", "cit. precision"), ("correct_refusal", "refuse ok")]
    fig, axes = plt.subplots(1, len(langs), figsize=(7 * len(langs), 4.2), squeeze=False)
    for ax, lang in zip(axes[0], langs):
        present = [c for c in configs if (c, lang) in by]
        x = np.arange(len(keys))
        width = 0.8 / max(1, len(present))
        for i, c in enumerate(present):
            s = summarize(by[(c, lang)])
            ax.bar(x + i * width, [s[k] or 0 for k, _ in keys], width, label=c)
        ax.set_xticks(x + width * (len(present) - 1) / 2, [t for _, t in keys], rotation=20)
        ax.set_ylim(0, 1)
        ax.set_title(f"{lang} questions")
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))  # leave the bottom strip to the legend, off the bars
    fig.savefig(folder / "metrics.png", dpi=110)
    plt.close(fig)
    made.append("metrics.png")

    fig, ax = plt.subplots(figsize=(8, 4))
    labels, p50, p95 = [], [], []
    for lang in langs:
        for c in configs:
            if (c, lang) in by:
                s = summarize(by[(c, lang)])
                labels.append(f"{c}\n{lang}")
                p50.append(s["total_ms_p50"] or 0)
                p95.append(s["total_ms_p95"] or 0)
    x = np.arange(len(labels))
    ax.bar(x - 0.2, p50, 0.4, label="p50")
    ax.bar(x + 0.2, p95, 0.4, label="p95")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("total ms per question")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=110)
    plt.close(fig)
    made.append("latency.png")

    lang = langs[0]
    types = [t for t in ("number", "entity", "date", "list", "explain", "unanswerable")
             if any(r["type"] == t for r in rows)]
    fig, ax = plt.subplots(figsize=(8, 4))
    present = [c for c in configs if (c, lang) in by]
    width = 0.8 / max(1, len(present))
    for i, c in enumerate(present):
        parts = group(by[(c, lang)], "type")
        vals = []
        for t in types:
            s = summarize(parts.get((t,), []))
            vals.append((s["correct_refusal"] if t == "unanswerable" else s["accuracy"]) or 0)
        ax.bar(np.arange(len(types)) + i * width, vals, width, label=c)
    ax.set_xticks(np.arange(len(types)) + width * (len(present) - 1) / 2, types)
    ax.set_ylim(0, 1)
    ax.set_title(f"accuracy by question type ({lang}; unanswerable: correct refusals)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(present))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "by_type.png", dpi=110)
    plt.close(fig)
    made.append("by_type.png")
    return made


def write_report(out: Path, rows: Sequence[dict], meta: dict) -> Path:
    """eval/reports/<timestamp>/{results.jsonl, summary.md, *.png}, and latest.md beside them."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = out / stamp
    folder.mkdir(parents=True, exist_ok=True)
    meta = {**meta, "date": time.strftime("%Y-%m-%d %H:%M")}
    with open(folder / "results.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    made = charts(rows, meta["configs"], meta["langs"], folder)
    (folder / "summary.md").write_text(summary_markdown(rows, meta, made), encoding="utf-8")
    # latest.md lives one level up, so its chart links point into the timestamped folder
    latest = summary_markdown(rows, meta, [f"{stamp}/{c}" for c in made])
    (out / "latest.md").write_text(latest, encoding="utf-8")
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return folder
