#!/usr/bin/env python3
"""Updates said in many words, answered by the product: the win rate (the answer uses the
newer fact) and the false-supersede rate (two look-alike facts, one retired).

For each labelled pair of a set (tests/data/updates_varied.jsonl, the development set;
tests/data/updates_heldout.jsonl, written after tuning): the older then the newer fact is
remembered into a fresh data home's store, as `secondself remember` does; an update's
question is then answered by `ask`'s conversation (the real answer model, unless the
memory answers it directly). It wins when the answer holds the newer value and not the
older one ("new_value" and "old_value", alternatives split by "|", matched as whole words).
A look-alike pair is falsely superseded when its older fact is no longer current.

    .venv/bin/python scripts/eval_updates.py                  # both sets
    .venv/bin/python scripts/eval_updates.py tests/data/updates_heldout.jsonl --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from secondself.answer.recall import PersonaMemory
from secondself.answer.turn import Conversation
from secondself.core.errors import SecondselfError, UserError
from secondself.service.app import App
from secondself.service.session import text_session

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SETS = (DATA / "updates_varied.jsonl", DATA / "updates_heldout.jsonl")


@dataclass(frozen=True, slots=True)
class Outcome:
    old: str
    new: str
    supersedes: bool  # the label: the newer updates the older
    retired: bool  # the store retired the older
    answer: str  # updates only
    backend: str
    won: bool  # updates: the answer has the newer value and not the older


def says(answer: str, value: str) -> bool:
    """Whether the answer says one of the value's alternatives ("fifth|5th"), as words; a
    number may go on in letters ("8:15" in "8:15pm"), not in digits ("4" is not in "14")."""
    text = answer.lower()
    for v in (v.strip().lower() for v in value.split("|")):
        end = r"(?!\d)" if v[-1].isdigit() else r"\b"
        if re.search(rf"(?<![\w:.]){re.escape(v)}{end}", text):
            return True
    return False


def load(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        raise UserError("updates-missing", f"no labelled pairs at {path}")
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except ValueError as exc:
        raise UserError("updates-bad-file", f"{path}: {exc}") from None


def run_pair(conversation: Conversation, pair: dict[str, object]) -> Outcome:
    """One pair in an empty store, which is emptied again afterwards."""
    memory = _memory(conversation)
    store = memory.store
    older = store.remember(str(pair["old"]), persona=memory.persona)
    store.remember(str(pair["new"]), persona=memory.persona)
    retired = not store.get(older.id).current
    answer, backend, won = "", "", False
    if pair["supersedes"]:
        conversation.history.clear()
        result = asyncio.run(conversation.answer(str(pair["question"])))
        answer, backend = result.reply, result.backend
        won = says(answer, str(pair["new_value"])) and not says(answer, str(pair["old_value"]))
    store.forget(list(store.iterate()))
    return Outcome(
        str(pair["old"]), str(pair["new"]), bool(pair["supersedes"]), retired, answer, backend, won
    )


def _memory(conversation: Conversation) -> PersonaMemory:
    memory = conversation.memory
    if not isinstance(memory, PersonaMemory):
        raise TypeError("the conversation's memory is not the store")
    return memory


def evaluate(path: Path, config: Path | None) -> list[Outcome]:
    """Every pair of a set, through one text session in a fresh data home."""
    pairs = load(path)
    with tempfile.TemporaryDirectory(prefix="updates-") as home:
        app = App(config_file=config, home_override=home)
        with text_session(app) as session:
            return [run_pair(session.conversation, pair) for pair in pairs]


def summary(outcomes: Sequence[Outcome]) -> dict[str, float | int]:
    updates = [o for o in outcomes if o.supersedes]
    alike = [o for o in outcomes if not o.supersedes]
    return {
        "updates": len(updates),
        "retired": sum(o.retired for o in updates),
        "won": sum(o.won for o in updates),
        "win_rate": sum(o.won for o in updates) / max(1, len(updates)),
        "look_alikes": len(alike),
        "falsely_retired": sum(o.retired for o in alike),
        "false_supersede_rate": sum(o.retired for o in alike) / max(1, len(alike)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("sets", nargs="*", type=Path, default=list(SETS), metavar="FILE.jsonl")
    parser.add_argument("--config", type=Path, help="a secondself config file, applied last")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write outcomes and summary")
    args = parser.parse_args(argv)
    report: dict[str, object] = {}
    try:
        for path in args.sets:
            outcomes = evaluate(path, args.config)
            totals = summary(outcomes)
            report[path.name] = {"summary": totals, "outcomes": [asdict(o) for o in outcomes]}
            print(
                f"{path.name}: the answer used the newer fact in {totals['won']} of "
                f"{totals['updates']} updates ({totals['win_rate']:.2f}; the store retired "
                f"{totals['retired']}); look-alikes retired {totals['falsely_retired']} of "
                f"{totals['look_alikes']} ({totals['false_supersede_rate']:.2f})"
            )
            for o in outcomes:
                if o.supersedes and not o.won:
                    print(f"  lost: {o.new!r} -> {o.answer!r} ({o.backend})")
    except SecondselfError as exc:
        print(f"eval_updates: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json is not None:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
