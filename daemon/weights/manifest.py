"""The model manifest: what each model is, where its files are, and whether they are intact."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secondself.core.errors import ModelError, Stage

MANIFEST = "manifest.toml"
STATE = ".verified.json"  # size, mtime and sha256 of files already hashed, per folder


@dataclass(frozen=True, slots=True)
class ModelFile:
    path: str  # relative to the models folder
    members: tuple[str, ...] = ()  # "member" or "package:member" inside the wheel(s)
    size: int | None = None
    sha256: str | None = None  # None for converted outputs (recorded when converted)


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    role: str
    licence: str
    files: tuple[ModelFile, ...]
    packages: tuple[Package, ...] = ()
    platform: str | None = None
    convert: str | None = None
    inputs: tuple[str, ...] = ()
    description: str = ""

    @property
    def converted(self) -> bool:
        return self.convert is not None

    @property
    def size(self) -> int:
        return sum(f.size or 0 for f in self.files)


@dataclass(frozen=True, slots=True)
class Manifest:
    models: tuple[Model, ...]
    by_name: dict[str, Model] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ModelError(f"model manifest not found: {path} (run `make setup`)") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ModelError(f"model manifest {path} is not valid TOML: {exc}") from exc
        models = tuple(_model(entry) for entry in data.get("model", []))
        return cls(models=models, by_name={m.name: m for m in models})

    def get(self, name: str) -> Model:
        try:
            return self.by_name[name]
        except KeyError:
            known = ", ".join(sorted(self.by_name))
            raise ModelError(f"unknown model '{name}' (known: {known})") from None

    def order(self) -> list[Model]:
        """Models with their conversion inputs first."""
        done: list[Model] = []
        seen: set[str] = set()

        def visit(model: Model) -> None:
            if model.name in seen:
                return
            seen.add(model.name)
            for dep in model.inputs:
                visit(self.get(dep))
            done.append(model)

        for model in self.models:
            visit(model)
        return done


def _model(entry: dict[str, Any]) -> Model:
    packages: list[Package] = []
    if "package" in entry:
        packages.append(Package(entry["package"], str(entry["version"])))
    packages += [Package(p["package"], str(p["version"])) for p in entry.get("also", [])]
    files = tuple(
        ModelFile(
            path=f["path"],
            members=tuple(f.get("from", ())),
            size=f.get("size"),
            sha256=f.get("sha256"),
        )
        for f in entry["files"]
    )
    return Model(
        name=entry["name"],
        role=entry["role"],
        licence=entry.get("licence", "unknown"),
        files=files,
        packages=tuple(packages),
        platform=entry.get("platform"),
        convert=entry.get("convert"),
        inputs=tuple(entry.get("inputs", ())),
        description=entry.get("description", ""),
    )


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class VerifiedFiles:
    """Remembers which files were hashed, so a second set-up does not rehash a gigabyte.

    A file counts as verified while its size and mtime match what was recorded; `full`
    checks rehash everything (doctor, `make setup`).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._path = folder / STATE
        try:
            self._records: dict[str, dict[str, Any]] = json.loads(self._path.read_text())
        except (OSError, ValueError):
            self._records = {}

    def expected_sha256(self, file: ModelFile) -> str | None:
        """The manifest's checksum, or for converted files the one recorded at conversion."""
        if file.sha256:
            return file.sha256
        record = self._records.get(file.path)
        return str(record["sha256"]) if record else None

    def check(self, file: ModelFile, full: bool = False) -> str | None:
        """None when the file is intact, else what is wrong with it."""
        path = self.folder / file.path
        try:
            stat = path.stat()
        except FileNotFoundError:
            return "missing"
        if file.size is not None and stat.st_size != file.size:
            return f"size {stat.st_size} bytes, expected {file.size}"
        expected = self.expected_sha256(file)
        if expected is None:
            return "no recorded checksum"
        record = self._records.get(file.path)
        quick_ok = (
            record is not None
            and record.get("size") == stat.st_size
            and record.get("mtime_ns") == stat.st_mtime_ns
            and record.get("sha256") == expected
        )
        if quick_ok and not full:
            return None
        actual = sha256_of(path)
        if actual != expected:
            return f"checksum {actual[:12]}..., expected {expected[:12]}..."
        self.record(file.path, actual)
        return None

    def record(self, relpath: str, sha256: str) -> None:
        stat = (self.folder / relpath).stat()
        self._records[relpath] = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": sha256,
        }

    def forget(self, relpath: str) -> None:
        self._records.pop(relpath, None)

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._records, indent=1, sort_keys=True))
        tmp.chmod(0o644)  # shared as the models are, even from a command with a private umask
        os.replace(tmp, self._path)


class ModelStore:
    """Locates the files of named models in one models folder, checking they are intact."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.manifest = Manifest.load(folder / MANIFEST)
        self.verified = VerifiedFiles(folder)

    def path(self, name: str, index: int = 0) -> Path:
        """The path of a model's file, after a quick integrity check."""
        model = self.manifest.get(name)
        file = model.files[index]
        problem = self.verified.check(file)
        if problem:
            raise ModelError(
                f"model file {self.folder / file.path} is {problem}: run `make setup` to fetch it"
            )
        return self.folder / file.path

    def resolve(self, name: str, stage: Stage) -> Path:
        """A model named in the manifest, or a file the user dropped in (a GGUF, a voice)."""
        if name in self.manifest.by_name:
            return self.path(name)
        path = Path(name).expanduser()
        if not path.is_file():
            raise ModelError(f"{name!r} is neither a known model nor a file", stage)
        return path

    def check(self, name: str, full: bool = False) -> list[str]:
        """Problems with a model's files ([] when every file is intact)."""
        model = self.manifest.get(name)
        problems = []
        for file in model.files:
            problem = self.verified.check(file, full=full)
            if problem:
                problems.append(f"{file.path}: {problem}")
        if full:
            self.verified.save()
        return problems
