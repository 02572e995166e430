"""The memory store end to end: the real MiniLM embedder, real SQLite + sqlite-vec, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from secondself.memory.embedding import LlamaEmbedder, load_embedder
from secondself.memory.model import NewMemory, SearchFilter
from secondself.memory.store import MemoryStore
from secondself.weights.manifest import ModelStore
from tests.memory.test_rules import labelled_pairs
from tests.memory.test_support import files_containing

pytestmark = pytest.mark.e2e

EMBED_MODEL = "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def embedder(model_store: ModelStore) -> LlamaEmbedder:
    return load_embedder(model_store, EMBED_MODEL, threads=1)


def test_supersede_on_the_labelled_set_with_the_real_embedder(
    tmp_path: Path, embedder: LlamaEmbedder
) -> None:
    pairs = labelled_pairs()
    wrong = []
    with MemoryStore.open(tmp_path / "u", embedder) as store:
        for n, pair in enumerate(pairs):
            persona = f"p{n}"  # one persona per pair: pairs cannot interfere
            old = store.remember(str(pair["old"]), persona=persona)
            store.remember(str(pair["new"]), persona=persona)
            if (not store.get(old.id).current) != pair["supersedes"]:
                wrong.append(pair)
    assert wrong == []


def test_search_answers_questions_by_meaning(tmp_path: Path, embedder: LlamaEmbedder) -> None:
    facts = [
        "My dog is called Biscuit",
        "The spare key is under the blue flower pot",
        "My sister Anna lives in Lisbon",
        "I am allergic to penicillin",
        "The boiler was serviced by Gareth in March",
        "Our wedding anniversary is on the 3rd of June",
    ]
    questions = {
        "What is my dog's name?": 0,
        "Where did I hide the house key?": 1,
        "Which city is my sister in?": 2,
        "Which medicine must I avoid?": 3,
        "Who fixed the heating?": 4,
        "When did we get married?": 5,
    }
    with MemoryStore.open(tmp_path / "u", embedder) as store:
        ids = store.add([NewMemory(f) for f in facts])
        store.add([NewMemory(f"unrelated filler note {n} about the weather") for n in range(30)])
        for question, expected in questions.items():
            top = store.search(question, SearchFilter(persona="personal"), 3)
            assert top[0].memory.id == ids[expected], (question, [r.memory.text for r in top])
            assert top[0].scores.similarity > 0.3


def test_a_chat_is_searched_by_what_was_said_and_who_said_it(
    tmp_path: Path, embedder: LlamaEmbedder
) -> None:
    # A made-up chat: both people talk about pets and trips, so the names and the
    # conversation around each turn decide.
    lines = [
        "Nora: Morning! How was your weekend?",
        "Omar: Great, we took the ferry to the island with the kids.",
        "Nora: Lovely. Did they like it?",
        "Omar: They loved the lighthouse most.",
        "Nora: My weekend was quiet, I repotted my orchids.",
        "Omar: Do they flower every year?",
        "Nora: Twice a year if I keep them by the window.",
        "Omar: My cat knocked over my basil again.",
        "Nora: Ha, my dog does the same with the bins.",
        "Omar: Pets! Anyway, the island trip was worth it.",
    ]
    questions = {
        "What did Omar's kids like most on the island?": 3,
        "How often do Nora's orchids flower?": 6,
        "What does Nora's dog do?": 8,
        "What did Omar's cat knock over?": 7,
    }
    with MemoryStore.open(tmp_path / "u", embedder) as store:
        store.add([NewMemory(f"unrelated filler note {n} about the weather") for n in range(30)])
        ids = store.add([NewMemory(t, thread="chat", seq=n) for n, t in enumerate(lines)])
        for question, expected in questions.items():
            found = [r.memory.id for r in store.search(question, SearchFilter("personal"), 3)]
            assert ids[expected] in found, (question, [store.get(i).text for i in found])


def test_sigkill_during_bulk_import_loses_nothing_that_returned(
    tmp_path: Path, model_store: ModelStore
) -> None:
    user = tmp_path / "u"
    child = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from secondself.memory.embedding import LlamaEmbedder
        from secondself.memory.model import NewMemory
        from secondself.memory.store import MemoryStore

        store = MemoryStore.open(
            Path(sys.argv[1]), LlamaEmbedder(Path(sys.argv[2]), threads=1), graph_min=100
        )
        n = 0
        while True:
            batch = [NewMemory(f"bulk memory {n + i} about topic {(n + i) % 17}") for i in range(16)]
            print(" ".join(str(i) for i in store.add(batch)), flush=True)
            print(store.remember(f"single memory after {n}").id, flush=True)
            n += 16
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child, str(user), str(model_store.path(EMBED_MODEL))],
        stdout=subprocess.PIPE,
        text=True,
    )
    returned: list[int] = []
    assert proc.stdout is not None
    try:
        while len(returned) < 250:
            line = proc.stdout.readline()
            assert line, "the writer died on its own"
            returned.extend(int(i) for i in line.split())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with MemoryStore.open(user, graph_min=100) as store:
        assert store.integrity() == "ok"
        found = store.get_many(returned)
        assert sorted(found) == sorted(returned)
        assert store.count() >= len(returned)
    embedder = LlamaEmbedder(model_store.path(EMBED_MODEL), threads=1)
    with MemoryStore.open(user, embedder, graph_min=100) as store:  # graph catches up
        hit = store.search("single memory after 32", SearchFilter(persona="personal"), 1)[0]
        assert hit.memory.text == "single memory after 32"


# --- the CLI ----------------------------------------------------------------------------------


def cli(home: Path, *args: str, user: str = "default") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secondself", "--home", str(home), "--user", user, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_cli_remember_search_forget_import_export(tmp_path: Path) -> None:
    home = tmp_path / "home"
    marker = "Xylophonist Quenby"
    r = cli(home, "remember", f"My piano teacher is {marker}")
    assert r.returncode == 0, r.stderr
    teacher = int(r.stdout)
    assert int(cli(home, "remember", "My dog is called Biscuit").stdout) == teacher + 1
    assert cli(home, "remember", "my dog is called Rex").returncode == 0

    r = cli(home, "memories", "--search", "what is my dog called", "--json")
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    assert found[0]["text"] == "my dog is called Rex"
    assert "My dog is called Biscuit" not in [m["text"] for m in found]
    assert {"similarity", "bm25_rank", "vector_rank", "fused"} <= set(found[0]["scores"])
    r = cli(home, "memories", "--search", "what was my dog called", "--all", "--json")
    assert "My dog is called Biscuit" in [m["text"] for m in json.loads(r.stdout)]

    # Another user sees nothing of this one.
    assert cli(home, "remember", "Bob sails on Sundays", user="bob").returncode == 0
    r = cli(home, "memories", "--search", "who is my piano teacher", "--json", user="bob")
    assert [m["text"] for m in json.loads(r.stdout)] == ["Bob sails on Sundays"]

    # Export, then import into a fresh user: the same search results.
    archive_path = tmp_path / "export.tar.gz"
    r = cli(home, "export", str(archive_path))
    assert r.returncode == 0 and "exported 3 memories" in r.stdout, r.stderr
    assert cli(home, "import", str(archive_path), user="copy").returncode == 0
    for user in ("default", "copy"):
        r = cli(home, "memories", "--search", "piano lessons", "--json", user=user)
        assert json.loads(r.stdout)[0]["text"] == f"My piano teacher is {marker}"

    # Bad input: one line on stderr, exit 2, nothing changed.
    for args in (("remember", ""), ("forget", "999"), ("import", str(tmp_path / "missing"))):
        r = cli(home, *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr

    r = cli(home, "forget", "--match", "xylophonist")
    assert r.returncode == 0, r.stderr
    assert f"#{teacher}" in r.stdout
    cli(home, "forget", "--match", "xylophonist", user="copy")
    needles = [marker.encode(), marker.lower().encode(), b"xylophonist"]
    assert files_containing(home, needles) == []
    assert files_containing(tmp_path, needles) == ["export.tar.gz"] or not files_containing(
        tmp_path / "home", needles
    )

    r = cli(home, "forget", "--user-all", user="bob")
    assert r.returncode == 0 and not (home / "users" / "bob").exists()


def test_cli_remember_image(tmp_path: Path) -> None:
    from tests.memory.test_support import tiny_jpeg

    home = tmp_path / "home"
    photo = tmp_path / "red_bicycle_in_the_hall.jpg"
    photo.write_bytes(tiny_jpeg("2022:01:02 03:04:05", b"bike"))
    r = cli(home, "remember", "--image", str(photo), "--json")
    assert r.returncode == 0, r.stderr
    saved = json.loads(r.stdout)
    assert saved["kind"] == "image" and saved["text"] == "red bicycle in the hall"
    assert (home / "users" / "default" / saved["media"]).read_bytes() == photo.read_bytes()
    r = cli(home, "memories", "--search", "where is the bike", "--json")
    assert json.loads(r.stdout)[0]["id"] == saved["id"]
    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"%PDF")
    r = cli(home, "remember", "--image", str(bad))
    assert r.returncode == 2 and "not a supported image" in r.stderr
