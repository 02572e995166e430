#!/usr/bin/env python3
"""Answer quality on the labelled set in tests/data/quality, with the real embedder:

1. the personal score: how well it separates the grounded answers from the ungrounded ones,
   made up or borrowed from a memory that does not answer the question (AUROC of the score
   and of each part), the memories given being those `ask` recalls;
2. the local model, through the same path as `secondself ask` (Conversation.answer with a
   silent voice): answer accuracy (the expected words are in the answer; for questions
   about things never told, "I don't know" or a hedge is right), the rate of "don't know"
   and hedged answers, and how often each backoff threshold would send an answer on.

    .venv/bin/python scripts/eval_quality.py               # both parts (a few minutes)
    .venv/bin/python scripts/eval_quality.py --no-model    # the score only (seconds)
    .venv/bin/python scripts/eval_quality.py --model smollm2-135m-instruct --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from secondself.answer.phrases import DONT_KNOW
from secondself.answer.prompt import Source
from secondself.answer.recall import PersonaMemory
from secondself.answer.score import ScoreParts, personal_score
from secondself.answer.turn import Conversation, TurnSettings
from secondself.core.bus import Bus
from secondself.core.config import Config, load_config
from secondself.core.paths import models_dir
from secondself.core.protocols import Audio, Embedder
from secondself.memory.embedding import load_embedder
from secondself.memory.model import NewMemory
from secondself.memory.store import MemoryStore
from secondself.service.session import SilentVoice
from secondself.weights.manifest import ModelStore

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "quality"
PERSONA = "personal"
THRESHOLDS = (30, 40, 50, 60, 70)
Scorer = Callable[[str, Sequence[Source], Embedder | None], ScoreParts]


@dataclass(frozen=True, slots=True)
class Item:
    question: str
    about: str | None  # the memory that answers it; None: never told
    kind: str  # name, date, place, number, paraphrase, never-told
    expect: tuple[tuple[str, ...], ...]  # every group must match one of its words
    grounded: str
    ungrounded: str  # a made-up fact
    borrowed: str | None = None  # a real memory that does not answer the question

    @property
    def told(self) -> bool:
        return self.about is not None


def load_set(folder: Path = DATA) -> tuple[dict[str, str], list[Item]]:
    """(memory key -> text, questions)."""
    memories = {}
    for line in (folder / "memories.jsonl").read_text().splitlines():
        record = json.loads(line)
        memories[record["key"]] = record["text"]
    items = []
    for line in (folder / "questions.jsonl").read_text().splitlines():
        r = json.loads(line)
        expect = tuple(tuple(group) for group in r["expect"])
        items.append(
            Item(
                r["question"],
                r["about"],
                r["kind"],
                expect,
                r["grounded"],
                r["ungrounded"],
                r.get("borrowed"),
            )
        )
    return memories, items


def open_store(folder: Path, embedder: Embedder, memories: dict[str, str]) -> MemoryStore:
    store = MemoryStore.open(folder, embedder)
    store.add([NewMemory(text, persona=PERSONA) for text in memories.values()])
    return store


# --- 1. the personal score on the labelled answers ---------------------------------------


@dataclass(frozen=True, slots=True)
class Labelled:
    item: Item
    answer: str
    label: str  # grounded, invented (a made-up fact) or borrowed (the wrong memory)
    parts: ScoreParts
    found: bool  # the memory that answers the question was among the sources


def score_labelled(
    store: MemoryStore,
    embedder: Embedder,
    memories: dict[str, str],
    items: Sequence[Item],
    top_k: int = 5,
    scorer: Scorer = personal_score,
) -> list[Labelled]:
    """Each told question's grounded answer and every question's ungrounded ones (made up,
    or borrowed from a memory that does not answer it), scored against the memories `ask`
    would recall for the question."""
    recall = PersonaMemory(store, PERSONA)
    out = []
    for item in items:
        sources = recall.recall(item.question, top_k)
        found = item.about is not None and memories[item.about] in {s.text for s in sources}
        answers = [(item.grounded, "grounded")] if item.told else []
        answers.append((item.ungrounded, "invented"))
        if item.borrowed is not None:
            answers.append((item.borrowed, "borrowed"))
        for answer, label in answers:
            parts = scorer(answer, sources, embedder)
            out.append(Labelled(item, answer, label, parts, found))
    return out


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """P(a random positive scores above a random negative), ties counting half."""
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def separation(
    labelled: Sequence[Labelled], negatives: tuple[str, ...] = ("invented", "borrowed")
) -> dict[str, float]:
    """AUROC of the score and of each of its parts: grounded answers against the
    `negatives` kinds of ungrounded ones."""
    parts: dict[str, Callable[[ScoreParts], float]] = {
        "score": lambda p: float(p.score),
        "grounding": lambda p: p.grounding,
        "retrieval": lambda p: p.retrieval,
        "style": lambda p: p.style,
    }
    return {
        name: auroc(
            [get(x.parts) for x in labelled if x.label == "grounded"],
            [get(x.parts) for x in labelled if x.label in negatives],
        )
        for name, get in parts.items()
    }


# --- 2. the local model ----------------------------------------------------------------------

_HEDGE = re.compile(r"\b(not sure|don't know|do not know|no idea|can't tell|cannot tell)\b", re.I)


def is_dont_know(answer: str) -> bool:
    return answer.strip() == DONT_KNOW or bool(re.search(r"\bdon't know\b", answer, re.I))


def is_hedged(answer: str) -> bool:
    return bool(_HEDGE.search(answer))


def has_expected(item: Item, answer: str) -> bool:
    return all(
        any(re.search(r"\b" + re.escape(word), answer, re.I) for word in group)
        for group in item.expect
    )


def is_right(item: Item, answer: str) -> bool:
    """Told: the expected words are there. Never told: it said it does not know (a hedge
    that only repeats a related memory asserts nothing, so it counts as right too)."""
    if item.told:
        return has_expected(item, answer)
    return is_hedged(answer)


@dataclass(frozen=True, slots=True)
class Live:
    item: Item
    answer: str
    backend: str
    parts: ScoreParts
    seconds: float

    @property
    def right(self) -> bool:
        return is_right(self.item, self.answer)


class _NoTranscriber:
    def transcribe(self, audio: Audio) -> str:
        return ""


def answer_all(
    store: MemoryStore, embedder: Embedder, config: Config, items: Sequence[Item]
) -> list[Live]:
    """Every question through `ask`'s path, each in a fresh conversation (no history)."""
    from secondself.service.loading import load_answer_model

    answerer = load_answer_model(ModelStore(models_dir(config.models.dir)), config)
    answerer.warm_up()
    voice = SilentVoice()
    out = []
    try:
        for item in items:
            conversation = Conversation(
                Bus(),
                stt=_NoTranscriber(),
                memory=PersonaMemory(store, PERSONA),
                answerer=answerer,
                synth=voice,
                speaker=voice,
                settings=TurnSettings(max_tokens=config.llm.max_tokens, top_k=config.memory.top_k),
            )
            start = time.perf_counter()
            result = asyncio.run(conversation.answer(item.question))
            seconds = time.perf_counter() - start
            parts = personal_score(result.reply, result.sources, embedder)
            out.append(Live(item, result.reply, result.backend, parts, seconds))
    finally:
        answerer.close()
    return out


def live_summary(live: Sequence[Live]) -> dict[str, Any]:
    told = [x for x in live if x.item.told]
    never = [x for x in live if not x.item.told]
    asserted = [x for x in live if not is_hedged(x.answer)]  # it claimed to know
    return {
        "questions": len(live),
        "accuracy": _share(x.right for x in live),
        "accuracy_told": _share(x.right for x in told),
        "accuracy_never_told": _share(x.right for x in never),
        "dont_know_rate": _share(is_dont_know(x.answer) for x in live),
        "hedged_rate": _share(is_hedged(x.answer) for x in live),
        "dont_know_rate_told": _share(is_dont_know(x.answer) for x in told),
        "asserted_right": sum(x.right for x in asserted),
        "asserted_wrong": sum(not x.right for x in asserted),
        # Does the score rank the model's own right answers above its wrong ones?
        "score_auroc_right_vs_wrong": auroc(
            [x.parts.score for x in asserted if x.right],
            [x.parts.score for x in asserted if not x.right],
        ),
        # "I don't know" scores 0: below every threshold, it is what backoff replaces.
        "below_threshold": {t: _share(x.parts.score < t for x in live) for t in THRESHOLDS},
        "backends": {
            "memory (said from one memory)": sum(
                x.backend == "memory" and not is_dont_know(x.answer) for x in live
            ),
            "memory (don't know)": sum(
                x.backend == "memory" and is_dont_know(x.answer) for x in live
            ),
            "local model": sum(x.backend == "local" for x in live),
        },
        "mean_seconds": sum(x.seconds for x in live) / max(len(live), 1),
    }


def _share(flags: Any) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else float("nan")


# --- report ------------------------------------------------------------------------------------


def print_score_table(labelled: Sequence[Labelled]) -> dict[str, dict[str, float]]:
    """The AUROC table (score and parts against all, made-up and borrowed answers)."""
    count = {k: sum(x.label == k for x in labelled) for k in ("grounded", "invented", "borrowed")}
    print(
        f"Personal score on the labelled set: {count['grounded']} grounded answers against "
        f"{count['invented']} made-up and {count['borrowed']} borrowed (a real memory that "
        "does not answer the question)\n"
    )
    columns = {
        "all": separation(labelled),
        "made-up": separation(labelled, ("invented",)),
        "borrowed": separation(labelled, ("borrowed",)),
    }
    print("| part      | AUROC all | vs made-up | vs borrowed | mean G | mean U |")
    print("|-----------|----------:|-----------:|------------:|-------:|-------:|")
    for name in ("score", "grounding", "retrieval", "style"):
        mean_g = _mean(_part(x, name) for x in labelled if x.label == "grounded")
        mean_u = _mean(_part(x, name) for x in labelled if x.label != "grounded")
        a, m, b = (columns[c][name] for c in ("all", "made-up", "borrowed"))
        print(f"| {name:<9} | {a:9.3f} | {m:10.3f} | {b:11.3f} | {mean_g:6.2f} | {mean_u:6.2f} |")
    recalled = sum(x.found for x in labelled if x.label == "grounded")
    print(
        f"\n(means of score/100 and of the parts; the memory that answers the question was "
        f"recalled for {recalled}/{count['grounded']} told questions)"
    )
    return columns


def _part(x: Labelled, name: str) -> float:
    return x.parts.score / 100 if name == "score" else float(getattr(x.parts, name))


def _mean(values: Any) -> float:
    found = list(values)
    return sum(found) / len(found) if found else float("nan")


def print_live_table(summary: dict[str, Any], model: str) -> None:
    print(f"\nLocal model {model} through `ask`'s path ({summary['questions']} questions)\n")
    print("| measure                                   | value |")
    print("|-------------------------------------------|------:|")
    rows = [
        ("answer accuracy (all)", summary["accuracy"]),
        ("accuracy, told questions", summary["accuracy_told"]),
        ("accuracy, never-told questions", summary["accuracy_never_told"]),
        ('"don\'t know" rate (all)', summary["dont_know_rate"]),
        ('"don\'t know" rate, told questions', summary["dont_know_rate_told"]),
        ("hedged or don't know (all)", summary["hedged_rate"]),
        ("score AUROC, asserted right vs wrong", summary["score_auroc_right_vs_wrong"]),
    ]
    for name, value in rows:
        print(f"| {name:<41} | {value:.3f} |")
    asserted = f"{summary['asserted_right']} / {summary['asserted_wrong']}"
    print(f"| {'asserted answers right / wrong':<41} | {asserted:>5} |")
    print(f"| {'mean seconds per answer':<41} | {summary['mean_seconds']:5.2f} |")
    backends = ", ".join(f"{k}: {v}" for k, v in summary["backends"].items())
    print(f"\nAnswered by: {backends}")
    shares = ", ".join(f"<{t}: {v:.0%}" for t, v in summary["below_threshold"].items())
    print(f"Answers below a persona threshold (would back off if the policy allows): {shares}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-model", action="store_true", help="skip the local model part")
    parser.add_argument("--model", help="answer model (default: the config's llm.model)")
    parser.add_argument("--threads", type=int, help="llm threads (default: the config's)")
    parser.add_argument("--json", type=Path, help="also write every answer and number here")
    parser.add_argument("--verbose", action="store_true", help="print every answer")
    args = parser.parse_args(argv)

    config = load_config()
    if args.model or args.threads:
        llm = replace(
            config.llm,
            model=args.model or config.llm.model,
            threads=args.threads or config.llm.threads,
        )
        config = replace(config, llm=llm)
    memories, items = load_set()
    embedder = load_embedder(
        ModelStore(models_dir(config.models.dir)), config.embed.model, config.embed.threads
    )
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp), embedder, memories) as store:
        labelled = score_labelled(store, embedder, memories, items, config.memory.top_k)
        report["score_auroc"] = print_score_table(labelled)
        report["labelled"] = [
            {
                "question": x.item.question,
                "answer": x.answer,
                "label": x.label,
                "score": x.parts.score,
                "parts": x.parts.to_dict(),
            }
            for x in labelled
        ]
        if args.verbose:
            for x in sorted(labelled, key=lambda x: x.parts.score):
                mark = x.label[0].upper()
                print(f"  {mark} {x.parts.score:3d} {x.item.question!r} -> {x.answer!r}")
        if not args.no_model:
            live = answer_all(store, embedder, config, items)
            summary = live_summary(live)
            print_live_table(summary, config.llm.model)
            report["live"] = summary
            report["answers"] = [
                {
                    "question": x.item.question,
                    "answer": x.answer,
                    "right": x.right,
                    "score": x.parts.score,
                    "backend": x.backend,
                }
                for x in live
            ]
            if args.verbose:
                for one in live:
                    mark = "ok " if one.right else "BAD"
                    print(f"  {mark} {one.parts.score:3d} {one.item.question!r} -> {one.answer!r}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
