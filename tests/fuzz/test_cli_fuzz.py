"""`secondself` under generated command lines: every subcommand, its options and their
values, good and bad, run in-process on a copy of a seeded data home (with no models, so
nothing loads: a command that needs one stops with a one-line fault), and a few through a
real child process with the real models.

Whatever the command line: no traceback; a mistake is exit 2 with one line on stderr,
starting "secondself: ", and the data home byte for byte as it was; a fault is exit 1,
also changing nothing; and what a command prints with --json is standard JSON.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import chdir, contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from secondself.cli import registry
from secondself.cli.main import main
from secondself.household.personas import Backoff
from secondself.memory.model import Kind
from secondself.weights.manifest import MANIFEST
from tests.fuzz import strategies as fz
from tests.fuzz.checks import standard_json
from tests.fuzz.home import copy_home, files, seed
from tests.memory.test_support import tiny_jpeg

pytestmark = pytest.mark.fuzz

Argv = list[str]
REPO = Path(__file__).resolve().parents[2]

# --- values ----------------------------------------------------------------------------------

# Files an argument may name: "@name" stands for that file in the example's own folder.
INPUTS: dict[str, bytes | None] = {
    "note.md": b"# Garden\n\nThe shed key is under the blue pot.\n",
    "photo.jpg": tiny_jpeg("2024:05:01 10:00:00"),
    "good.jsonl": b'{"text": "the gate code is 4411"}\n',
    "bad.jsonl": b'{"text": "a", "created": Infinity}\n',
    "binary.md": b"\x00\x01\x02",
    "voice.wav": b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00"
    + b"\x00}\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00",
    "bad.toml": b"[web\nport = ",
    "odd.toml": b'[llm]\nthreads = "many"\n[web]\nport = 99999\n',
    "fine.toml": b"",
    "notes": None,  # a folder
    "missing.md": None,  # named, never made
    "new\nline.md": b"a note\n",
    "out": None,
}
PATHS = fz.mostly(st.sampled_from([f"@{name}" for name in INPUTS]), fz.text())
TEXTS = fz.mostly(fz.WORDS, fz.text())
NUMBERS = fz.mostly(st.integers(-3, 30).map(str), fz.text() | fz.numbers().map(str))
IDS = fz.mostly(st.sampled_from(["1", "2", "3", "6", "7", "999"]), NUMBERS)
TIMES = fz.mostly(
    st.sampled_from(["30m", "2h", "7d", "1w", "2025-01-31", "2020-01-01T10:00"]), fz.text()
)
NAMES = fz.name()
WAKES = fz.mostly(st.sampled_from(["hey_jarvis", "alexa", "hey_mycroft"]), fz.text())


@st.composite
def words(
    draw: st.DrawFn, positionals: list[st.SearchStrategy[str]], options: dict[str, Any]
) -> Argv:
    """The positionals, then some of the options in any order (a value for those that
    take one, None marks a flag), sometimes a token that belongs to no option."""
    argv = [draw(p) for p in positionals]
    chosen = (
        draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=4)) if options else []
    )
    for option in chosen:
        value = options[option]
        argv += [option] if value is None else [option, draw(value)]
    if draw(st.integers(0, 12)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(fz.text()))
    return argv


def command(*positionals: st.SearchStrategy[str], **options: Any) -> st.SearchStrategy[Argv]:
    """One command's words: values for its positionals, and its options as keywords with
    their values' strategy (persona_all=None is the flag --persona-all)."""
    named = {"--" + key.replace("_", "-"): value for key, value in options.items()}
    return words(list(positionals), named)


def verbs(**each: st.SearchStrategy[Argv]) -> st.SearchStrategy[Argv]:
    """A command of verbs (`persona create NAME`): one verb, then its own words."""
    return st.one_of(
        [strategy.map(lambda argv, v=verb: [v, *argv]) for verb, strategy in each.items()]
    )


SETTINGS = {
    "wake": WAKES,
    "voice": fz.mostly(st.just("en_US-joe-medium"), PATHS),
    "directives": TEXTS,
    "model": fz.mostly(st.just("qwen2.5-0.5b-instruct"), PATHS),
    "backoff": fz.mostly(st.sampled_from([str(b) for b in Backoff]), fz.text()),
    "threshold": NUMBERS,
}
KINDS = fz.mostly(st.sampled_from([str(k) for k in Kind]), fz.text())
# Every subcommand. `models` only lists: fetch and verify download the models. `run` runs
# the daemon: here it stops at the missing models (never --demo-if-no-mic, which plays).
COMMANDS: dict[str, st.SearchStrategy[Argv]] = {
    "config": command(json=None),
    "models": command(
        fz.mostly(st.just("list"), fz.text().filter(lambda a: a not in ("fetch", "verify")))
    ),
    "doctor": command(json=None, quick=None),
    "run": command(json=None),
    "listen": command(PATHS, json=None, out=PATHS),
    "ask": st.lists(TEXTS, min_size=1, max_size=3).flatmap(
        lambda q: command(*map(st.just, q), json=None)
    ),
    "remember": st.lists(TEXTS, max_size=3).flatmap(
        lambda t: command(
            *map(st.just, t),
            image=PATHS,
            caption=TEXTS,
            kind=KINDS,
            corrects=IDS,
            shared=None,
            json=None,
        )
    ),
    "memories": command(search=TEXTS, limit=NUMBERS, all=None, kind=KINDS, json=None),
    "forget": st.lists(IDS, max_size=2).flatmap(
        lambda ids: command(
            *map(st.just, ids),
            match=TEXTS,
            since=TIMES,
            until=TIMES,
            persona_all=None,
            user_all=None,
            yes=None,
        )
    ),
    "import": command(PATHS),
    "export": command(
        fz.mostly(st.sampled_from(["@out.tar.gz", "@out/x.tgz", "@notes", "@x.zip"]), PATHS)
    ),
    "correct": st.lists(TEXTS, min_size=1, max_size=2).flatmap(
        lambda t: command(*map(st.just, t), json=None)
    ),
    "snapshot": command(caption=TEXTS, json=None),
    "persona": verbs(
        create=command(NAMES, **SETTINGS),
        list=command(json=None),
        show=command(NAMES, json=None),
        edit=command(NAMES, **SETTINGS, no_wake=None),
        delete=command(NAMES, forget_memories=None, keep_memories=None),
    ),
    "user": verbs(
        add=command(NAMES, wake=WAKES), list=command(json=None), remove=command(NAMES, yes=None)
    ),
    "web": command(),
}
# Not fuzzed here, each with where it is tested instead.
NOT_FUZZED = {
    "mcp": "serves MCP on stdio until its client goes: tests/cli/test_mcp.py",
    "token": "makes and revokes tokens: tests/cli/test_token.py, tests/web/test_tokens.py",
}
GLOBAL = {
    "--user": fz.mostly(st.sampled_from(["default", "bob"]), NAMES, odds=8),
    "--persona": fz.mostly(st.sampled_from(["personal", "work"]), NAMES, odds=8),
    "--config": fz.mostly(st.sampled_from(["@fine.toml", "@odd.toml", "@bad.toml"]), PATHS, odds=8),
    "--events": fz.mostly(st.just("@events.jsonl"), PATHS, odds=8),
    "-v": None,
}


@st.composite
def command_lines(draw: st.DrawFn) -> Argv:
    """`secondself` options, a subcommand and its own; now and then --help or --version."""
    head = draw(words([], GLOBAL))
    name = draw(st.sampled_from(sorted(COMMANDS)))
    tail = draw(COMMANDS[name])
    if draw(st.integers(0, 30)) == 0:
        tail.append(draw(st.sampled_from(["--help", "--version", "-h"])))
    return [*head, name, *tail]


# --- running it --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("template") / "home"
    seed(home)
    return home


@pytest.fixture
def no_models(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A models folder with the manifest (the catalog of wake words, voices and answer
    models) and no model in it, and no config file or cache of this machine's user: kept
    for every example of a test, as they are only read."""
    folder = tmp_path_factory.mktemp("machine")
    (folder / "models").mkdir()
    shutil.copy(REPO / "models" / MANIFEST, folder / "models" / MANIFEST)
    monkeypatch.setenv("SECONDSELF_MODELS", str(folder / "models"))
    monkeypatch.setenv("SECONDSELF_CACHE", str(folder / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder / "config"))
    monkeypatch.delenv("SECONDSELF_HOME", raising=False)


@contextmanager
def workspace(template: Path) -> Iterator[Path]:
    """The example's folder: `home` (a copy of the seeded one) and the files of INPUTS."""
    with tempfile.TemporaryDirectory(prefix="fuzz-cli-") as folder:
        root = Path(folder)
        copy_home(template, root / "home")
        for name, data in INPUTS.items():
            if name in ("notes", "out"):
                (root / name).mkdir()
                (root / name / "a.md").write_text("a note in a folder\n")
            elif data is not None:
                (root / name).write_bytes(data)
        yield root


def placed(argv: Argv, root: Path) -> Argv:
    """The words as a process would get them, kept inside the example's folder: commands
    run here as whoever runs the tests, and --events or an export writes where it points."""
    return [str(root / word[1:]) if word.startswith("@") else _as_given(word) for word in argv]


def _as_given(word: str) -> str:
    """A generated word with no way out of the folder it runs in (no leading "/", none
    after an "=" as in --events=/x, no ".."), no NUL (no command line holds one), a lone
    surrogate as the bytes of it that are not UTF-8 (as Python decodes a command line)."""
    inside = re.sub(r"(^|=)/+", r"\1", word).replace("..", "_.").replace("\0", "")
    return os.fsdecode(inside.encode(errors="surrogatepass"))


def run_in_process(argv: Argv, cwd: Path) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `main(argv)` run in `cwd`, with nothing on stdin."""
    out, err = io.StringIO(), io.StringIO()
    stdin = mock.patch.object(sys, "stdin", io.StringIO())
    with chdir(cwd), redirect_stdout(out), redirect_stderr(err), stdin:
        try:
            code = main(argv)
        except SystemExit as done:  # --help and --version print and leave, as argparse does
            code = done.code if isinstance(done.code, int) else 1
            assert code == 0, err.getvalue()
    return code, out.getvalue(), err.getvalue()


def check_outcome(argv: Argv, code: int, out: str, err: str, before: Any, after: Any) -> None:
    """The properties every command line has, whatever it asked for."""
    assert "Traceback" not in err, err
    assert code in (0, 1, 2), (code, err)
    event(f"{next((w for w in argv if w in COMMANDS), '?')}: exit {code}")
    lines = err.splitlines()
    verbose = "-v" in argv or "--verbose" in argv
    if code == 2 or (code == 1 and "doctor" not in argv):
        shown = lines[-1:] if verbose else lines  # with -v, log lines come first
        assert len(shown) == 1 and shown[0].startswith("secondself: "), err
        assert after == before, "a refused command changed the data home"
    helped = {"--help", "-h", "--version"} & set(argv)
    if code == 0 and "--json" in argv and not helped and out.strip():
        standard_json(out)


@settings(max_examples=3 * settings().max_examples)  # quick ones: 16 commands to cover
@given(argv=command_lines())
def test_any_command_line_is_done_or_refused_in_one_line(
    template: Path, no_models: None, argv: Argv
) -> None:
    with workspace(template) as root:
        argv = ["--home", str(root / "home"), *placed(argv, root)]
        before = files(root / "home")
        code, out, err = run_in_process(argv, root)
        check_outcome(argv, code, out, err, before, files(root / "home"))


def test_every_subcommand_is_fuzzed() -> None:
    """A new subcommand needs its grammar in COMMANDS."""

    class Names:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def add_parser(self, name: str, **_: Any) -> argparse.ArgumentParser:
            self.seen.append(name)
            return argparse.ArgumentParser(prog=name)

    names = Names()
    for register in registry.registrars():
        register(names)
    assert sorted(names.seen) == sorted([*COMMANDS, *NOT_FUZZED])


# --- through a real process ----------------------------------------------------------------------


@st.composite
def child_lines(draw: st.DrawFn) -> list[bytes]:
    """What a shell might run with the real models (a few: each loads one): a note, a
    search or a forget in words, or in bytes that are not UTF-8; an import."""
    words = fz.WORDS.map(str.encode)
    text = draw(
        fz.mostly(words, st.binary(min_size=1, max_size=12).map(lambda b: b.replace(b"\0", b"")))
    )
    return draw(
        st.sampled_from(
            [
                [b"remember", text],
                [b"remember", b"--image", b"@photo.jpg", b"--caption", text, b"--json"],
                [b"memories", b"--search", text, b"--json"],
                [b"forget", b"--match", text],
                [
                    b"import",
                    draw(st.sampled_from([b"@good.jsonl", b"@bad.jsonl", b"@notes", b"@note.md"])),
                ],
            ]
        )
    )


@pytest.mark.e2e
@settings(max_examples=max(4, settings().max_examples // 8))
@given(argv=child_lines())
def test_a_command_line_in_a_child_process_is_done_or_refused_in_one_line(
    template: Path, argv: list[bytes]
) -> None:
    """As a shell runs it: `python -m secondself`, its words bytes, nothing on stdin."""
    with workspace(template) as root:
        words = [b"--home", os.fsencode(root / "home")]
        words += [os.fsencode(root) + b"/" + w[1:] if w.startswith(b"@") else w for w in argv]
        before = files(root / "home")
        done = subprocess.run(
            [sys.executable, "-m", "secondself", *words],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            cwd=root,
        )
        shown = [os.fsdecode(w) for w in words]
        err = done.stderr.decode(errors="replace")
        out = done.stdout.decode(errors="replace")
        check_outcome(shown, done.returncode, out, err, before, files(root / "home"))
