"""The scoring of scripts/bench_understanding.py (LoCoMo), on sentences made up here: the
benchmark's data is for evaluation only and never enters the repository."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from scripts.bench_understanding import (
    Imported,
    Question,
    Row,
    abstains,
    answer_score,
    auroc,
    choose,
    dia_ids,
    load_dialogue,
    main,
    multi_hop_f1,
    search_rows,
    session_time,
    summarise,
    token_f1,
    tokens,
    turn_records,
)
from secondself.core.errors import UserError

pytestmark = pytest.mark.unit


def test_tokens_are_lower_case_without_punctuation_or_articles_and_stemmed() -> None:
    assert tokens("The Kites, and a Lantern!") == ["kite", "lantern"]
    assert tokens("painted paintings") == ["paint", "paint"]
    assert tokens("Running happily") == ["run", "happili"]
    assert tokens("...") == []


def test_token_f1_counts_shared_stems_over_both_sides() -> None:
    assert token_f1("Painting landscapes.", "painting landscapes") == 1.0
    # prediction {paint, landscap}, gold {she, paint, landscap}: P 1, R 2/3
    assert token_f1("Paintings: landscapes!", "she paints a landscape") == pytest.approx(0.8)
    assert token_f1("a red bicycle", "blue kayak") == 0.0
    assert token_f1("", "blue kayak") == 0.0


def test_token_f1_counts_a_repeated_token_as_often_as_both_sides_have_it() -> None:
    # prediction {tea, tea, tea}, gold {tea}: one shared, P 1/3, R 1
    assert token_f1("tea tea tea", "tea") == pytest.approx(0.5)


def test_multi_hop_averages_each_gold_item_over_its_best_predicted_item() -> None:
    assert multi_hop_f1("coffee, green tea", "green tea, coffee, orange juice") == pytest.approx(
        2 / 3
    )
    assert multi_hop_f1("coffee and green tea", "coffee, green tea") < 1.0  # no comma: one item
    assert answer_score(1, "oboe, harp", "harp, oboe") == 1.0


def test_open_domain_gold_keeps_only_what_comes_before_the_semicolon() -> None:
    gold = "bird watching; she often talks about the marshes"
    assert answer_score(3, "Bird watching.", gold) == 1.0
    assert token_f1("Bird watching.", gold) < 0.5
    assert answer_score(4, "Bird watching.", gold) < 0.5  # only category 3 is cut


@pytest.mark.parametrize(
    "answer",
    [
        "I don't know that yet.",
        "I’m not sure. What I know is: the boat is green.",
        "That was not mentioned.",
        "There is no information about her cousin.",
        "He never mentioned a violin.",
        "I do not know.",
    ],
)
def test_abstentions_are_recognised(answer: str) -> None:
    assert abstains(answer)
    assert answer_score(5, answer, None) == 1.0


@pytest.mark.parametrize(
    "answer",
    [
        "She went hiking in the hills.",
        "He mentioned the notebook twice.",
        "No, she sold the canoe.",
        "They know the baker well.",
    ],
)
def test_answers_are_not_abstentions(answer: str) -> None:
    assert not abstains(answer)
    assert answer_score(5, answer, None) == 0.0


def test_auroc_is_the_share_of_pairs_ranked_right_with_ties_half() -> None:
    assert auroc([3, 4], [1, 2]) == 1.0
    assert auroc([1], [2]) == 0.0
    assert auroc([1, 2], [1, 2]) == 0.5
    assert auroc([2, 2], [1, 2]) == 0.75
    # 0.4 loses to 0.5 only: 5 of 6 pairs right
    assert auroc([0.9, 0.4, 0.7], [0.5, 0.1]) == pytest.approx(5 / 6)
    assert auroc([0.9], []) is None


def test_session_times_are_read_as_written() -> None:
    assert session_time("1:56 pm on 8 May, 2023") == datetime(2023, 5, 8, 13, 56)
    assert session_time("10:04 am on 19 December, 2022") == datetime(2022, 12, 19, 10, 4)
    assert session_time("12:30 am on 1 March, 2024") == datetime(2024, 3, 1, 0, 30)
    with pytest.raises(ValueError):
        session_time("yesterday at noon")


def test_turn_ids_are_normalised_and_split() -> None:
    assert dia_ids("D30:05") == ["D30:5"]
    assert dia_ids("D9:1 D4:4") == ["D9:1", "D4:4"]
    assert dia_ids("nothing here") == []


def test_each_turn_is_one_import_record_at_its_sessions_time_in_its_sessions_thread() -> None:
    data = {
        "session_2_date_time": "9:15 am on 3 June, 2023",
        "session_2": [{"speaker": "Ola", "dia_id": "D2:1", "text": "Back from the lake."}],
        "session_1_date_time": "7:00 pm on 1 June, 2023",
        "session_1": [
            {"speaker": "Ola", "dia_id": "D1:1", "text": "Look at this!", "blip_caption": "a kite"},
            {"speaker": "Ben", "dia_id": "D1:2", "text": "Lovely."},
        ],
    }
    assert turn_records(data) == [
        {
            "text": "Ola: Look at this! [shares a photo: a kite]",
            "created": "2023-06-01T19:00:00",
            "provenance": "D1:1",
            "thread": "session 1",
            "seq": 0,
        },
        {
            "text": "Ben: Lovely.",
            "created": "2023-06-01T19:00:00",
            "provenance": "D1:2",
            "thread": "session 1",
            "seq": 1,
        },
        {
            "text": "Ola: Back from the lake.",
            "created": "2023-06-03T09:15:00",
            "provenance": "D2:1",
            "thread": "session 2",
            "seq": 0,
        },
    ]


def test_a_limit_spreads_over_the_chosen_categories() -> None:
    questions = [Question(f"q{n}", 1 if n < 5 else 4, "x", frozenset()) for n in range(10)]
    assert [q.text for q in choose(questions, {1, 4}, 4)] == ["q0", "q2", "q5", "q7"]
    assert [q.text for q in choose(questions, {4}, None)] == ["q5", "q6", "q7", "q8", "q9"]
    assert len(choose(questions, {1}, 50)) == 5


def _row(category: int, f1: float, sources: list[str], searched: list[str], score: int) -> Row:
    return Row(
        conversation="made-up",
        question="?",
        category=category,
        gold=None if category == 5 else "x",
        answer="I don't know." if category == 5 else "x",
        f1=f1,
        abstained=category == 5,
        evidence=["D1:1"],
        sources=sources,
        searched=searched,
        score=score,
        backend="local",
        ms=100.0,
        first_token_ms=None,
    )


def test_the_summary_counts_evidence_among_sources_and_search() -> None:
    rows = [
        _row(1, 0.5, ["D1:1"], ["D1:1"], 80),
        _row(4, 1.0, ["D2:2"], ["D3:3", "D1:1"], 60),
        _row(5, 1.0, [], [], 20),
    ]
    summary = summarise(rows)
    together = summary["groups"]["1-4"]
    assert together["n"] == 2
    assert together["f1"] == 0.75
    assert together["recall_at_5"] == 0.5
    assert together["recall_at_10"] == 1.0
    assert together["abstained"] == 0.0
    assert summary["groups"]["5 adversarial"]["abstained"] == 1.0
    assert summary["score_auroc"] == 1.0
    assert "3 open-domain" not in summary["groups"]


def test_a_missing_or_broken_conversation_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UserError, match=r"no .*conv-99\.json"):
        load_dialogue(tmp_path, "conv-99")
    (tmp_path / "conv-98.json").write_text(json.dumps({"session_1": []}))
    with pytest.raises(UserError, match="not a LoCoMo conversation") as broken:
        load_dialogue(tmp_path, "conv-98")
    assert broken.value.exit_code == 2
    assert main(["--data", str(tmp_path), "--conversations", "conv-99"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "conv-99.json" in err


def test_retrieval_only_rows_take_the_searchs_top_five_as_sources() -> None:
    question = Question("Where did Ola fly the kite?", 4, "the lake", frozenset({"D1:7"}))
    searched = [f"D1:{n}" for n in range(1, 11)]
    imported = Imported(turn_of={}, searched=[searched], search_ms=[3.25], superseded=0)
    (row,) = search_rows("made-up", [question], imported)
    assert row.sources == searched[:5] and row.searched == searched
    summary = summarise([row])["groups"]["4 single-hop"]
    assert (summary["recall_at_5"], summary["recall_at_10"]) == (0.0, 1.0)
    assert row.ms == 3.25
