"""The graph index beside a store: it agrees with exact search, follows every writer,
survives a bad file, is sized for the store, and comes and goes with the store's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from secondself.memory import graph as g
from secondself.memory.model import NewMemory, SearchFilter
from secondself.memory.store import MemoryStore
from tests.memory.test_support import HashEmbedder, files_containing

pytestmark = pytest.mark.unit


def texts(results: list) -> list[str]:  # type: ignore[type-arg]
    return [r.memory.text for r in results]


def test_graph_search_agrees_with_exact_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    words = [f"w{n}" for n in range(300)]
    notes = [" ".join(rng.choice(words, 6)) for _ in range(600)]
    queries = [" ".join(rng.choice(words, 3)) for _ in range(20)]
    emb = HashEmbedder()
    results = {}
    for name, graph_min in (("exact", 10**9), ("graph", 100)):
        with MemoryStore.open(tmp_path / name, emb, graph_min=graph_min) as store:
            store.add([NewMemory(t) for t in notes])
            where = SearchFilter(persona="personal")
            results[name] = [
                [i for i, _ in store.search_vector(v, where, 10)] for v in emb.embed(queries)
            ]
            if name == "graph":
                assert store.graph_path.exists()
    recall = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(results["exact"], results["graph"], strict=True)]
    )
    assert recall >= 0.95


def test_graph_follows_writes_from_another_connection(tmp_path: Path) -> None:
    user = tmp_path / "u"
    emb = HashEmbedder()
    with (
        MemoryStore.open(user, emb, graph_min=10) as a,
        MemoryStore.open(user, emb, graph_min=10) as b,
    ):
        for n in range(30):
            a.remember(f"background note {n} about lamps")
        assert texts(b.search("lamps", SearchFilter(persona="personal"), 1))
        fresh = a.remember("the zebra crossing near school")
        assert (
            b.search("zebra crossing", SearchFilter(persona="personal"), 1)[0].memory.id == fresh.id
        )
        a.forget([fresh])
        assert fresh.id not in [
            r.memory.id for r in b.search("zebra crossing", SearchFilter(persona="personal"))
        ]


def test_a_store_behind_another_processs_forget_never_saves_the_forgotten_vector(
    tmp_path: Path,
) -> None:
    user = tmp_path / "u"
    emb = HashEmbedder()
    where = SearchFilter(persona="personal")
    secret_text = "zqxj secret combination 31-07-99"
    vector = emb.embed([secret_text])[0]
    stored = vector.astype("<f2").tobytes()  # as the graph file keeps it
    with MemoryStore.open(user, emb, graph_min=10) as a:
        with MemoryStore.open(user, emb, graph_min=10) as b:
            for n in range(30):
                a.remember(f"background note {n} about lamps")
            b.search("lamps", where, 1)  # b loads the graph
            secret = b.remember(secret_text)  # now in b's graph, not saved
            a.forget([a.get(secret.id)])  # a saves a clean file and prunes the log past b
            assert files_containing(user, [stored]) == []
        # Closing, b found no log entry after its position: it must still see it is behind.
        assert files_containing(user, [stored]) == []
        assert secret.id not in [i for i, _ in a.search_vector(vector, where, 5)]
    assert files_containing(user, [stored]) == []


def test_missing_or_corrupt_graph_is_rebuilt(tmp_path: Path) -> None:
    user = tmp_path / "u"
    emb = HashEmbedder()
    with MemoryStore.open(user, emb, graph_min=10) as store:
        for n in range(30):
            store.remember(f"note {n} about the harbour")
        target = store.remember("the lighthouse keeper is called Morag")
    (user / "memory.graph").write_bytes(b"not a graph")
    with MemoryStore.open(user, emb, graph_min=10) as store:
        hit = store.search("lighthouse keeper", SearchFilter(persona="personal"), 1)[0]
        assert hit.memory.id == target.id
    (user / "memory.graph").unlink()
    with MemoryStore.open(user, emb, graph_min=10) as store:
        assert (
            store.search("lighthouse", SearchFilter(persona="personal"), 1)[0].memory.id
            == target.id
        )
        assert (user / "memory.graph").exists()


def test_large_graphs_are_built_with_more_links_and_keep_them(tmp_path: Path) -> None:
    small = g.Graph.empty(tmp_path / "small", 8, "m", expected=g.LARGE - 1)
    large = g.Graph.empty(tmp_path / "large", 8, "m", expected=g.LARGE)
    assert (small.connectivity, large.connectivity) == (g.CONNECTIVITY, g.CONNECTIVITY_LARGE)
    rows = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    large.add(np.arange(50, dtype=np.int64), rows)
    assert large.save()
    loaded = g.Graph.load(tmp_path / "large", 8, "m")
    assert loaded is not None and loaded.connectivity == g.CONNECTIVITY_LARGE
    # M=16 graphs search wider once past MEDIUM; M=32 graphs (past LARGE) keep their own beam.
    widths = [
        g.expansion_search(n, m) for n, m in ((g.MEDIUM, 16), (g.MEDIUM + 1, 16), (g.LARGE, 32))
    ]
    assert widths == [g.EXPANSION_SEARCH, g.EXPANSION_SEARCH_MEDIUM, g.EXPANSION_SEARCH_LARGE]


def test_an_import_that_grows_the_store_past_large_gets_a_large_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(g, "LARGE", 150)  # the size rule at a test's scale (300,000 really)
    emb = HashEmbedder()
    with MemoryStore.open(tmp_path / "u", emb, graph_min=20) as store:
        store.add([NewMemory(f"garden diary entry {n}") for n in range(60)], batch=16)
    loaded = g.Graph.load(tmp_path / "u" / "memory.graph", emb.dimensions, emb.name)
    assert loaded is not None and loaded.connectivity == g.CONNECTIVITY  # 60: small
    with MemoryStore.open(tmp_path / "u", emb, graph_min=20) as store:
        store.add([NewMemory(f"kitchen diary entry {n}") for n in range(200)], batch=16)
        found = store.search("kitchen diary entry 7", SearchFilter("personal"), 1)
        assert found[0].memory.text == "kitchen diary entry 7"
    loaded = g.Graph.load(tmp_path / "u" / "memory.graph", emb.dimensions, emb.name)
    assert loaded is not None and loaded.connectivity == g.CONNECTIVITY_LARGE
    assert len(loaded) == 260


def test_a_store_that_shrinks_below_half_the_minimum_searches_exactly_again(
    tmp_path: Path,
) -> None:
    user = tmp_path / "u"
    with MemoryStore.open(user, HashEmbedder(), graph_min=20) as store:
        notes = store.add([NewMemory(f"attic box {n} of old letters") for n in range(40)])
        assert store.stats()["graph"] == 40 and store.graph_path.exists()
        store.forget(list(store.get_many(notes[5:]).values()))
        assert store.stats()["graph"] is None
        assert not store.graph_path.exists()
        hit = store.search("attic box 3", SearchFilter(persona="personal"), 1)[0]
        assert hit.memory.id == notes[3] and hit.scores.vector_rank == 1
    with MemoryStore.open(user, graph_min=20) as store:  # no graph follows the log: emptied
        assert store.db.execute("SELECT count(*) FROM vector_log").fetchone() == (0,)


def test_rebuild_builds_a_graph_only_from_the_minimum(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    with MemoryStore.open(tmp_path / "u", HashEmbedder(), graph_min=10**9) as store:
        store.add([NewMemory(f"recipe card {n}: lentil soup") for n in range(30)])
        assert not store.graph_path.exists()  # loaded without a graph, as the benchmark does
        store.graph_min = 20
        store.rebuild_graph(lambda done, total: seen.append((done, total)))
        assert seen[-1] == (30, 30)
        assert store.graph_path.exists() and store.stats()["graph"] == 30
        store.graph_min = 100
        store.rebuild_graph()
        assert not store.graph_path.exists() and store.stats()["graph"] is None
