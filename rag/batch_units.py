"""Conversations in a ``rag batch`` file: what is answered together, in which order.

Rows sharing a ``conversation_id`` are one conversation: they are answered one after another,
in ``turn`` order (file order when there is no turn column), each with the conversation's
earlier turns as history, exactly as `rag ask --history` would. Different conversations run
in parallel (--workers); a conversation's own turns never do, since each needs the answer
before it. A row without a conversation_id is a conversation of its own.

Resuming: turns already in the output are answered again without being written, so a resumed
conversation's later turns see the same history as in an uninterrupted run.
"""
from __future__ import annotations

from dataclasses import dataclass

from .batch_io import Row
from .limits import recent_history

CONVERSATION_FIELD = "conversation_id"
TURN_FIELD = "turn"


@dataclass
class Unit:
    """Rows answered in order by one worker; ``write[i]`` is False for a turn already in the output."""

    rows: list[Row]
    write: list[bool]

    @property
    def size(self) -> int:
        return sum(self.write)


def conversation_of(row: Row) -> str | None:
    value = row.extra.get(CONVERSATION_FIELD)
    return None if value is None or str(value).strip() == "" else str(value).strip()


def _turn_key(row: Row) -> tuple[int, int]:
    turn = row.extra.get(TURN_FIELD)
    return (int(str(turn).strip()) if turn not in (None, "") else row.row, row.row)


def check_turns(rows: list[Row]) -> list[Row]:
    """Rows whose turn is not a whole number become error rows (they cannot be placed)."""
    out = []
    for r in rows:
        turn = r.extra.get(TURN_FIELD)
        ok = turn in (None, "") or isinstance(turn, int) or str(turn).strip().lstrip("-").isdigit()
        if r.error or ok or conversation_of(r) is None:
            out.append(r)
        else:
            out.append(Row(r.row, r.id, r.question, r.extra, f"turn must be a whole number, not {str(turn)[:20]!r}"))
    return out


def make_units(todo: list[Row], rows: list[Row]) -> list[Unit]:
    """One unit per conversation with a row to answer (its earlier done turns replayed), and one
    per row outside any conversation; in the order of each unit's first row to answer."""
    todo_ids = {id(r) for r in todo}
    first_seen: set[str] = set()
    conversations: dict[str, list[Row]] = {}
    for r in rows:
        conv = conversation_of(r)
        if conv is None or r.error or r.id in first_seen:
            continue  # error rows are answered alone (as errors); repeated ids are the caller's
        first_seen.add(r.id)
        conversations.setdefault(conv, []).append(r)
    units, placed = [], set()
    for r in todo:
        conv = conversation_of(r)
        if conv is None or r.error or conv not in conversations:
            units.append(Unit([r], [True]))
        elif conv not in placed:
            placed.add(conv)
            turns = sorted(conversations[conv], key=_turn_key)
            last = max(i for i, t in enumerate(turns) if id(t) in todo_ids)
            turns = turns[: last + 1]  # later turns already done need no replay
            units.append(Unit(turns, [id(t) in todo_ids for t in turns]))
    return units


def history_turn(record: dict) -> dict | None:
    """An answered row as one turn of history (None for a failed row, which is left out)."""
    if record.get("error"):
        return None
    return {"question": record["question"], "answer": record["answer"], "search_question": record.get("search_question"),
            "refused": record["refused"],
            "citations": [{"doc": c["doc"], "section": c["section"], "chunk_id": c["chunk_id"]} for c in record["citations"]]}


def answer_unit(service, unit: Unit, ask_kwargs: dict, answer_row) -> list[dict]:
    """The records of a unit's rows to write, each turn asked with the ones before it as history."""
    history: list[dict] = []
    out = []
    for row, write in zip(unit.rows, unit.write):
        record = answer_row(service, row, ask_kwargs, recent_history(history) if history else None)
        turn = history_turn(record)
        if turn:
            history.append(turn)
        if write:
            out.append(record)
    return out
