"""Reading question files and writing (and resuming) batch answer files for ``rag batch``.

Output files are append-only, one record per physical line, so a run killed at any
moment leaves at worst a cut-off last line; resuming drops that fragment and skips every
id already written.

Lines end with ``\n`` only: records are written with U+2028/U+2029 escaped and files are
split on ``\n`` alone (``str.splitlines`` would also split inside a JSON string). A run holds
an exclusive lock on its output, so a second run on the same file stops instead of writing
every pending row twice. Devices and pipes (``/dev/stdout``) are written without resume.
"""
from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .cli import UserError
from .documents import DocumentError, decode_bytes

INPUT_FORMATS = {".txt": "txt", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
OUTPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
# Characters str.splitlines() breaks at besides \n and \r: escaped in JSON, spaces in CSV cells.
_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_CELL_BREAKS = str.maketrans({c: " " for c in "\r\n" + _LINE_BREAKS})
# Input fields with these names are carried through as input_<name> so they never shadow ours.
OUTPUT_FIELDS = ("id", "row", "question", "search_question", "answer", "refused", "citations", "contexts",
                 "latency_ms", "error")
CSV_COLUMNS = ("id", "row", "question", "search_question", "answer", "refused", "error", "latency_ms",
               "citations", "citation_docs", "citation_chunk_ids", "context_docs")


@dataclass
class Row:
    row: int  # 1-based position in the input: line number (txt, jsonl) or data record number (csv)
    id: str
    question: str
    extra: dict = field(default_factory=dict)
    error: str | None = None  # set when the row cannot be asked at all


# ---------------------------------------------------------------------------- input
def read_rows(path: Path, question_column: str = "question") -> list[Row]:
    """All rows of a .txt/.csv/.jsonl question file; unusable rows come back with ``error`` set."""
    fmt = INPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: unsupported input type {path.suffix or '(none)'!r}; use .txt, .csv or .jsonl")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"input file not found: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read input file {path}: {exc.strerror or exc}") from None
    try:
        text = decode_bytes(data, str(path))
    except DocumentError as exc:
        raise UserError(str(exc)) from None
    if fmt == "txt":
        return [Row(i, str(i), line.strip()) for i, line in enumerate(split_lines(text), 1) if line.strip()]
    if fmt == "csv":
        return _csv_rows(text, path, question_column)
    return _jsonl_rows(text, question_column)


def _csv_rows(text: str, path: Path, column: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    if column not in header:
        raise UserError(f"{path}: no {column!r} column (columns: {', '.join(header) or 'none'}); "
                        "name the question column with --question-column")
    rows = []
    for i, cells in enumerate((c for c in reader if any(x.strip() for x in c)), 1):
        record = dict(zip(header, cells))
        rid = (record.pop("id", "") or "").strip() or str(i)
        question = record.pop(column, None)
        extra = _carry(record)
        if question is None:
            rows.append(Row(i, rid, "", extra, f"missing column {column!r}: the row has {len(cells)} cells, the header {len(header)}"))
        else:
            rows.append(Row(i, rid, question.strip(), extra))
    return rows


def _jsonl_rows(text: str, field_name: str) -> list[Row]:
    rows = []
    for i, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(Row(i, str(i), "", {}, f"malformed JSON ({exc.msg} at column {exc.colno}): {_clip(line)}"))
            continue
        if not isinstance(obj, dict):
            rows.append(Row(i, str(i), "", {}, f"expected a JSON object, got {type(obj).__name__}: {_clip(line)}"))
            continue
        rid = obj.pop("id", None)
        rid = str(i) if rid is None or str(rid).strip() == "" else str(rid).strip()
        question = obj.pop(field_name, None)
        extra = _carry(obj)
        if question is None:
            rows.append(Row(i, rid, "", extra, f"missing field {field_name!r}"))
        elif not isinstance(question, str):
            rows.append(Row(i, rid, "", extra, f"field {field_name!r} is {type(question).__name__}, not a string"))
        else:
            rows.append(Row(i, rid, question.strip(), extra))
    return rows


def split_lines(text: str) -> list[str]:
    """Lines split at \n only (a trailing \r dropped): U+2028 inside a JSON string is not a line end."""
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def json_line(record: dict) -> str:
    """One JSON record on one physical line, whatever its strings hold."""
    text = json.dumps(record, ensure_ascii=False)
    for ch in _LINE_BREAKS:
        if ch in text:
            text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text + "\n"


def _carry(fields: dict) -> dict:
    return {(f"input_{k}" if k in OUTPUT_FIELDS else k): v for k, v in fields.items() if k is not None}


def _clip(s: str, n: int = 80) -> str:
    s = s.strip()
    return s if len(s) <= n else s[:n] + "…"


# ---------------------------------------------------------------------------- output
def output_format(path: Path, regular: bool = True) -> str:
    """jsonl or csv from the extension; a device or pipe without one (/dev/stdout) gets JSONL."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None and regular:
        raise UserError(f"{path}: unsupported output type {path.suffix or '(none)'!r}; use .jsonl or .csv")
    return fmt or "jsonl"


class AnswerWriter:
    """Appends one record per line and flushes it; knows which ids a previous run already wrote."""

    def __init__(self, path: Path, extra_columns: list[str] = (), overwrite: bool = False,
                 warn=lambda msg: None):
        if path.is_dir():
            raise UserError(f"cannot write output {path}: it is a directory")
        self.path = path
        self.regular = _is_regular_or_new(path)
        self.format = output_format(path, self.regular)
        self.done: Counter[str] = Counter()  # id -> records already in the file
        self._header_written = False
        self._columns = [*CSV_COLUMNS, *extra_columns]
        try:
            self._fh = open(path, "ab", buffering=0)  # never truncate before holding the lock
        except OSError as exc:
            raise UserError(f"cannot write output {path}: {exc.strerror or exc}") from None
        try:
            self._start(overwrite, warn)
        except BaseException:
            self._fh.close()
            raise

    def _start(self, overwrite: bool, warn) -> None:
        if not self.regular:
            warn(f"{self.path} is not a regular file (a device or pipe): writing without resume")
        else:
            _lock(self._fh, self.path)
            if overwrite:
                self._fh.truncate(0)
            else:
                self._resume(warn)
        if self.format == "csv" and not self._header_written:
            self._put("\ufeff" + _csv_line(self._columns))  # the BOM makes Excel read the file as UTF-8

    def _resume(self, warn) -> None:
        with open(self.path, "rb") as fh:
            data = fh.read()
        cut = data.rfind(b"\n") + 1
        if cut < len(data):
            warn(f"{self.path}: dropping an incomplete last line ({len(data) - cut} bytes) left by an interrupted run")
            self._fh.truncate(cut)
        lines = split_lines(data[:cut].decode("utf-8-sig", errors="replace"))
        if self.format == "csv":
            if not lines:
                return
            header = next(csv.reader([lines[0]]))
            if header != self._columns:
                raise UserError(f"{self.path} has other columns than this run would write; "
                                "use --overwrite to start over or choose another --output")
            self._header_written = True
            for line in lines[1:]:
                cells = next(csv.reader([line]), [])
                if len(cells) == len(header):
                    self.done[cells[0]] += 1
                else:
                    warn(f"{self.path}: ignoring a damaged line: {_clip(line)}")
            return
        for line in lines:
            try:
                self.done[str(json.loads(line)["id"])] += 1
            except (ValueError, KeyError, TypeError):
                if line.strip():
                    warn(f"{self.path}: ignoring a damaged line: {_clip(line)}")

    def write(self, record: dict) -> None:
        if self.format == "csv":
            self._put(_csv_line([_csv_cell(v) for v in flatten_for_csv(record, self._columns)]))
        else:
            self._put(json_line(record))

    def _put(self, text: str) -> None:
        # One unbuffered write per record: nothing is held back in a Python buffer.
        data = memoryview(text.encode("utf-8"))
        try:
            while data:
                data = data[self._fh.write(data):]
        except OSError as exc:
            raise UserError(f"cannot write output {self.path}: {exc.strerror or exc}") from None
        self._header_written = True

    def close(self) -> None:
        self._fh.close()


def _is_regular_or_new(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise UserError(f"cannot write output {path}: {exc.strerror or exc}") from None


def _lock(fh, path: Path) -> None:
    """An exclusive lock on the output for this run: a second run on it stops with a message."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UserError(f"{path} is being written by another `rag batch` run; wait for it to finish "
                        "(then run again to resume) or choose another --output") from None


def flatten_for_csv(record: dict, columns: list[str]) -> list:
    cites = record.get("citations") or []
    flat = {
        **record,
        "citations": " | ".join(f"[{c['n']}] {c['title']} ({c['doc']})"
                                + (f" · {c['section']}" if c.get("section") else "")
                                + f": “{c['text'][c['start']:c['end']]}”" for c in cites),
        "citation_docs": "; ".join(dict.fromkeys(c["doc"] for c in cites)),
        "citation_chunk_ids": "; ".join(c["chunk_id"] for c in cites),
        "context_docs": "; ".join(f"{c['doc']} ({c['score']:.4f})" for c in record.get("contexts") or []),
    }
    return [flat.get(c, "") for c in columns]


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    # Line breaks (U+2028 too) become spaces (same length, so offsets stay valid): one record per line.
    return value.translate(_CELL_BREAKS)


def _csv_line(cells) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()
