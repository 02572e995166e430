#!/usr/bin/env python3
"""Understanding on LoCoMo (Maharana et al., ACL 2024): a conversation's turns imported as
memories, its questions answered by the product, the answers scored as the paper scores them.

For each conversation, in a fresh data home: every turn becomes one memory ("Speaker: text",
a shared photo's caption as "[shares a photo: ...]", created at its session's time, its
dia_id as provenance, its session as its thread and its place there as its seq) through the
JSONL importer; every question is searched as
`secondself memories --search` searches (top 10) and answered by `secondself ask`'s
conversation (the models loaded once per conversation, each question on its own: no
follow-up history). Reported per category and for 1-4 together: answer token F1, evidence
recall@5 (the answer's sources) and @10 (the search), abstentions, the personal score's
AUROC (answerable 1-4 against adversarial 5) and mean, and answer latency.

The data (CC BY-NC 4.0, for evaluation only) is read where it lies, by default
../shared/benchmarks/locomo beside the repository: never copy any of it into the project.

    .venv/bin/python scripts/bench_understanding.py                      # conv-44, every question
    .venv/bin/python scripts/bench_understanding.py --limit 40           # 40 questions, a quick run
    .venv/bin/python scripts/bench_understanding.py --conversations conv-44 conv-47 \\
        --categories 1 2 4 --json /tmp/locomo.json                       # rows and summary
    .venv/bin/python scripts/bench_understanding.py --retrieval-only \\
        --conversations conv-44 conv-47 conv-48                          # search alone, fast

`--retrieval-only` loads no answer model: R@5 and R@10 are then both the search's (its top
5 and top 10), and the search's own latency is reported instead of the answer's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import string
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import snowballstemmer

from secondself.answer.score import personal_score
from secondself.core.errors import SecondselfError, UserError
from secondself.memory import importer
from secondself.memory.embedding import load_embedder
from secondself.memory.model import SearchFilter
from secondself.memory.store import MemoryStore
from secondself.service.app import App
from secondself.service.session import TextSession, text_session

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "benchmarks" / "locomo"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
GROUPS = {f"{c} {name}": (c,) for c, name in CATEGORIES.items() if c != 5} | {
    "1-4": (1, 2, 3, 4),
    "5 adversarial": (5,),
}
SEARCH_K = 10  # evidence recall@10 over `memories --search`; @5 is the answer's own sources
STEMMER_NAME = "snowballstemmer porter"  # the original Porter algorithm

# --- scoring: the paper's answer token F1 -------------------------------------------------

_STEMMER = snowballstemmer.stemmer("porter")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(?:a|an|the|and)\b")
# Ways an answer says it does not know. The paper's own check is "not mentioned" and "no
# information available"; "not sure" is how this product hedges (it declines, then says
# the nearest thing it does know), and "I don't know that yet" is its plain refusal.
ABSTENTIONS = (
    "don't know|do not know|doesn't know|does not know|not sure|no idea|not mentioned|"
    "never mentioned|didn't mention|did not mention|wasn't mentioned|was not mentioned|"
    "no information|not available|never told|haven't told|have not told|no record"
).split("|")
_ABSTAINS = re.compile(r"\b(?:" + "|".join(map(re.escape, ABSTENTIONS)) + r")\b")
_DIA_ID = re.compile(r"D(\d+):(\d+)")
_SESSION = re.compile(r"session_(\d+)")


def tokens(text: str) -> list[str]:
    """Lower case, no punctuation, no a/an/the/and, split on white space, Porter-stemmed."""
    plain = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return [str(t) for t in _STEMMER.stemWords(plain.split())]


def token_f1(prediction: str, gold: str) -> float:
    """F1 over the multisets of tokens: 0 when they share none."""
    predicted, wanted = tokens(prediction), tokens(gold)
    shared = sum((Counter(predicted) & Counter(wanted)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(wanted)
    return 2 * precision * recall / (precision + recall)


def multi_hop_f1(prediction: str, gold: str) -> float:
    """Category 1: each comma-separated gold item scored against its best predicted item."""
    predicted = [p.strip() for p in prediction.split(",")]
    items = [g.strip() for g in gold.split(",")]
    return sum(max(token_f1(p, g) for p in predicted) for g in items) / len(items)


def abstains(answer: str) -> bool:
    """Does the answer say it does not know, or that it was not mentioned?"""
    return _ABSTAINS.search(answer.lower().replace("\u2019", "'")) is not None


def answer_score(category: int, answer: str, gold: str | None) -> float:
    """The paper's score of one answer: token F1, or for category 5 whether it abstained."""
    if category == 5:
        return float(abstains(answer))
    if gold is None:
        raise ValueError(f"a category {category} question needs a gold answer")
    if category == 1:
        return multi_hop_f1(answer, gold)
    if category == 3:
        gold = gold.split(";")[0].strip()  # the rest explains the common-sense step
    return token_f1(answer, gold)


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """Mann-Whitney rank formula, tied values at their mean rank; None without both."""
    if not positives or not negatives:
        return None
    first: dict[float, int] = {}
    last: dict[float, int] = {}
    for rank, value in enumerate(sorted([*positives, *negatives]), 1):
        first.setdefault(value, rank)
        last[value] = rank
    rank_sum = sum((first[p] + last[p]) / 2 for p in positives)
    n = len(positives)
    return (rank_sum - n * (n + 1) / 2) / (n * len(negatives))


def session_time(text: str) -> datetime:
    """A session's local date-time, written like "1:56 pm on 8 May, 2023"."""
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y")


def dia_ids(entry: str) -> list[str]:
    """The turn ids in one evidence entry ("D30:05" read as "D30:5"; a few hold several)."""
    return [f"D{int(session)}:{int(turn)}" for session, turn in _DIA_ID.findall(entry)]


# --- the data -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    category: int
    gold: str | None  # None in category 5: the right answer is that it was never said
    evidence: frozenset[str]  # the dia_ids of the turns that hold the answer


@dataclass(frozen=True, slots=True)
class Dialogue:
    name: str
    records: list[dict[str, str | int]]  # one importer JSONL record per turn
    questions: list[Question]


def load_dialogue(folder: Path, name: str) -> Dialogue:
    path = folder / f"{name}.json"
    if not path.is_file():
        raise UserError("locomo-missing", f"no {path} (--data: the folder of the conv-*.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Dialogue(name, turn_records(data), [_question(q) for q in data["qa"]])
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise UserError("locomo-bad-file", f"{path} is not a LoCoMo conversation: {exc}") from None


def turn_records(data: dict[str, Any]) -> list[dict[str, str | int]]:
    """Every turn as an importer record, session by session; each session (one sitting of
    the conversation, days from the next) is a thread, its turns in order."""
    numbers = sorted(int(m[1]) for key in data if (m := _SESSION.fullmatch(key)))
    records: list[dict[str, str | int]] = []
    for n in numbers:
        created = session_time(data[f"session_{n}_date_time"]).isoformat()
        for seq, turn in enumerate(data[f"session_{n}"]):
            text = f"{turn['speaker']}: {turn['text']}"
            if caption := turn.get("blip_caption"):
                text += f" [shares a photo: {caption}]"
            provenance = dia_ids(turn["dia_id"])[0]
            records.append(
                {
                    "text": text,
                    "created": created,
                    "provenance": provenance,
                    "thread": f"session {n}",
                    "seq": seq,
                }
            )
    return records


def _question(item: dict[str, Any]) -> Question:
    category = int(item["category"])
    gold = None if category == 5 else str(item["answer"])
    evidence = frozenset(i for entry in item["evidence"] for i in dia_ids(entry))
    return Question(str(item["question"]), category, gold, evidence)


def choose(
    questions: Sequence[Question], categories: set[int], limit: int | None
) -> list[Question]:
    """The questions of `categories`; with a limit, that many spread evenly over the list
    (the files group questions by category: the first 40 would be two categories only)."""
    chosen = [q for q in questions if q.category in categories]
    if limit is None or limit >= len(chosen):
        return chosen
    return [chosen[i * len(chosen) // limit] for i in range(limit)]


# --- driving the product ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Imported:
    turn_of: dict[int, str]  # memory id -> dia_id, from the memories' provenance
    searched: list[list[str]]  # per question: the dia_ids of `memories --search`'s top 10
    search_ms: list[float]  # per question: how long that search took
    superseded: int  # turns the importer's supersede rule retired on import


@dataclass(frozen=True, slots=True)
class Row:
    conversation: str
    question: str
    category: int
    gold: str | None
    answer: str
    f1: float  # category 5: 1 if the answer abstained
    abstained: bool
    evidence: list[str]
    sources: list[str]  # the dia_ids of the memories the answer drew on
    searched: list[str]  # the dia_ids of the search's top 10
    score: int  # the personal score, 0-100
    backend: str
    ms: float  # the whole answer
    first_token_ms: float | None  # model answers only


def import_and_search(app: App, dialogue: Dialogue, questions: Sequence[Question]) -> Imported:
    """`secondself import FILE.jsonl` of the turns, then `memories --search` per question."""
    path = app.home / f"{dialogue.name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in dialogue.records), encoding="utf-8")
    todo = importer.plan(path, app.persona)  # everything checked before any write
    embedder = load_embedder(app.models, app.config.embed.model, app.config.embed.threads)
    with MemoryStore.open(app.user_dir(), embedder, bus=app.bus) as store:
        importer.run(store, todo)
        memories = list(store.iterate())
        turn_of = {m.id: m.provenance for m in memories}
        where = SearchFilter(persona=app.persona)
        searched, search_ms = [], []
        for q in questions:
            start = time.perf_counter()
            found = store.search(q.text, where, SEARCH_K)
            search_ms.append((time.perf_counter() - start) * 1000)
            searched.append([turn_of[r.memory.id] for r in found])
    return Imported(turn_of, searched, search_ms, sum(not m.current for m in memories))


async def ask_all(
    session: TextSession, name: str, questions: Sequence[Question], imported: Imported
) -> list[Row]:
    """Each question answered as `secondself ask` answers it, then scored."""
    conversation = session.conversation
    rows = []
    for n, (q, searched) in enumerate(zip(questions, imported.searched, strict=True), 1):
        conversation.history.clear()  # the questions are independent: none is a follow-up
        before = conversation.last_score
        start = time.perf_counter()
        result = await conversation.answer(q.text)
        ms = (time.perf_counter() - start) * 1000
        parts = conversation.last_score
        if parts is None or parts is before:  # not scored: nothing was answered (as `ask`)
            parts = personal_score(result.reply, [], session.embedder)
        first_token = result.timings_ms.get("first_token")
        rows.append(
            Row(
                conversation=name,
                question=q.text,
                category=q.category,
                gold=q.gold,
                answer=result.reply,
                f1=answer_score(q.category, result.reply, q.gold),
                abstained=abstains(result.reply),
                evidence=sorted(q.evidence),
                sources=[imported.turn_of.get(s.memory_id, "") for s in result.sources],
                searched=searched,
                score=parts.score,
                backend=result.backend,
                ms=round(ms, 1),
                first_token_ms=None if first_token is None else round(first_token, 1),
            )
        )
        print(f"{name} {n}/{len(questions)} cat {q.category} {ms:.0f} ms", file=sys.stderr)
    return rows


def search_rows(name: str, questions: Sequence[Question], imported: Imported) -> list[Row]:
    """Each question's search alone (no answer model): its top 5 stand in for the sources."""
    return [
        Row(
            conversation=name,
            question=q.text,
            category=q.category,
            gold=q.gold,
            answer="",
            f1=0.0,
            abstained=False,
            evidence=sorted(q.evidence),
            sources=searched[:5],
            searched=searched,
            score=0,
            backend="none",
            ms=round(ms, 2),
            first_token_ms=None,
        )
        for q, searched, ms in zip(questions, imported.searched, imported.search_ms, strict=True)
    ]


def run_dialogue(
    dialogue: Dialogue, questions: Sequence[Question], config: Path | None, retrieval_only: bool
) -> tuple[list[Row], Imported]:
    """One conversation in a fresh data home, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"locomo-{dialogue.name}-") as home:
        app = App(config_file=config, home_override=home)
        imported = import_and_search(app, dialogue, questions)
        if retrieval_only:
            return search_rows(dialogue.name, questions, imported), imported
        with text_session(app) as session:
            rows = asyncio.run(ask_all(session, dialogue.name, questions, imported))
    return rows, imported


# --- the report ---------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _hit(row: Row, found: list[str]) -> float:
    return float(bool(set(row.evidence) & set(found)))


def _quantiles(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    p50, p95 = np.percentile(values, [50, 95])
    return {"n": len(values), "p50": round(float(p50), 1), "p95": round(float(p95), 1)}


def summarise(rows: Sequence[Row]) -> dict[str, Any]:
    """Per category and for 1-4: F1, evidence recall, abstentions and mean score; then the
    score's AUROC (1-4 against 5), latency and which backend answered."""
    groups: dict[str, dict[str, float | None]] = {}
    for name, categories in GROUPS.items():
        mine = [r for r in rows if r.category in categories]
        if not mine:
            continue
        with_evidence = [r for r in mine if r.evidence]
        groups[name] = {
            "n": len(mine),
            "f1": _mean([r.f1 for r in mine]),
            "recall_at_5": _mean([_hit(r, r.sources) for r in with_evidence]),
            "recall_at_10": _mean([_hit(r, r.searched) for r in with_evidence]),
            "abstained": _mean([float(r.abstained) for r in mine]),
            "score": _mean([float(r.score) for r in mine]),
        }
    answerable = [float(r.score) for r in rows if r.category != 5]
    adversarial = [float(r.score) for r in rows if r.category == 5]
    return {
        "groups": groups,
        "score_auroc": auroc(answerable, adversarial),
        "answer_ms": _quantiles([r.ms for r in rows]),
        "first_token_ms": _quantiles([r.first_token_ms for r in rows if r.first_token_ms]),
        "backends": dict(Counter(r.backend for r in rows)),
    }


def _cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _latency(q: dict[str, float] | None) -> str:
    return "-" if q is None else f"p50 {q['p50']:.0f}, p95 {q['p95']:.0f} (n {q['n']:.0f})"


def print_retrieval_table(summary: dict[str, Any], header: str) -> None:
    print(header)
    print(f"{'category':<15}{'n':>5}{'R@5':>7}{'R@10':>7}")
    for name, g in summary["groups"].items():
        print(f"{name:<15}{g['n']:>5}{_cell(g['recall_at_5']):>7}{_cell(g['recall_at_10']):>7}")
    print("R@5, R@10: an evidence turn among the search's top 5, top 10")
    print(f"search ms: {_latency(summary['answer_ms'])}")


def print_table(summary: dict[str, Any], header: str) -> None:
    print(header)
    print(f"{'category':<15}{'n':>5}{'F1':>7}{'R@5':>7}{'R@10':>7}{'abstain':>9}{'score':>7}")
    for name, g in summary["groups"].items():
        cells = [_cell(g[k]) for k in ("f1", "recall_at_5", "recall_at_10")]
        print(
            f"{name:<15}{g['n']:>5}{cells[0]:>7}{cells[1]:>7}{cells[2]:>7}"
            f"{_cell(g['abstained']):>9}{_cell(g['score'], 1):>7}"
        )
    print("F1 of 5: the share that abstained (right there, wrong in 1-4); score: mean, 0-100")
    print(f"personal score AUROC, 1-4 against 5: {_cell(summary['score_auroc'])}")
    print(f"answer ms: {_latency(summary['answer_ms'])}")
    print(f"first token ms (model answers): {_latency(summary['first_token_ms'])}")
    backends = ", ".join(f"{b} {n}" for b, n in sorted(summary["backends"].items()))
    print(f"answered by: {backends}")


# --- the command --------------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help=f"LoCoMo folder ({DATA})")
    parser.add_argument("--conversations", nargs="+", default=["conv-44"], metavar="NAME")
    parser.add_argument(
        "--categories", nargs="+", type=int, choices=sorted(CATEGORIES), default=[1, 2, 3, 4, 5]
    )
    parser.add_argument("--limit", type=_positive, help="questions per conversation (spread)")
    parser.add_argument("--config", type=Path, help="a secondself config file, applied last")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write rows and summary here")
    parser.add_argument(
        "--retrieval-only",
        action="store_true",
        help="search only, no answer model: R@5 is then the search's top 5",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.json is not None and not args.json.parent.is_dir():
            raise UserError("json-folder", f"no folder {args.json.parent} for --json")
        dialogues = [load_dialogue(args.data, name) for name in args.conversations]
        rows: list[Row] = []
        turns = superseded = 0
        for dialogue in dialogues:
            questions = choose(dialogue.questions, set(args.categories), args.limit)
            done, imported = run_dialogue(dialogue, questions, args.config, args.retrieval_only)
            rows += done
            turns += len(imported.turn_of)
            superseded += imported.superseded
        model = App(config_file=args.config).config.llm.model
    except SecondselfError as exc:
        print(f"bench_understanding: {exc}", file=sys.stderr)
        return exc.exit_code
    summary = summarise(rows)
    header = (
        f"LoCoMo {' '.join(args.conversations)}: {len(rows)} questions; {turns} turns imported "
        f"({superseded} superseded on import); "
        + ("retrieval only" if args.retrieval_only else f"answer model {model}")
        + f"; stemmer {STEMMER_NAME}"
    )
    (print_retrieval_table if args.retrieval_only else print_table)(summary, header)
    if args.json is not None:
        report = {"header": header, "summary": summary, "rows": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
