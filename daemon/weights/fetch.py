"""Fetch every model of the manifest from its PyPI package, assemble, convert and verify.

Wheels are downloaded once into the cache (`~/.cache/secondself/downloads`), files are
assembled into a verified store (`~/.cache/secondself/models`) and hard-linked into the
models folder, so a fresh clone sets up in seconds without a fresh gigabyte. Idempotent:
intact files are left alone; a missing, truncated or corrupt file is fetched again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from secondself.core.errors import ModelError, Stage
from secondself.weights.convert import CONVERTERS, Converter
from secondself.weights.manifest import (
    MANIFEST,
    Manifest,
    Model,
    ModelFile,
    VerifiedFiles,
    sha256_of,
)

Say = Callable[[str], None]


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Fetcher:
    def __init__(
        self,
        manifest_path: Path,
        models_dir: Path,
        cache: Path,
        say: Say = _say,
        converters: Mapping[str, Converter] = CONVERTERS,
    ) -> None:
        self.converters = converters
        self.manifest = Manifest.load(manifest_path)
        self.manifest_path = manifest_path
        self.models_dir = models_dir
        self.store = cache / "models"
        self.downloads = cache / "downloads"
        self.say = say
        self.here = VerifiedFiles(models_dir)
        self.stored = VerifiedFiles(self.store)

    def fetch_all(self, full: bool = False, only: set[str] | None = None) -> int:
        """Make every model present and intact; returns how many files were (re)made."""
        made = 0
        self.models_dir.mkdir(parents=True, exist_ok=True)
        if self.manifest_path.resolve() != (self.models_dir / MANIFEST).resolve():
            shutil.copyfile(self.manifest_path, self.models_dir / MANIFEST)
        try:
            wanted = self._with_inputs(only) if only is not None else None
            for model in self.manifest.order():
                if wanted is not None and model.name not in wanted:
                    continue
                made += self._ensure(model, full)
        finally:
            self.here.save()
            if self.store != self.models_dir:
                self.stored.save()
        return made

    def _with_inputs(self, names: set[str]) -> set[str]:
        """The named models and, recursively, the models they are converted from."""
        pending, found = list(names), set()
        while pending:
            name = pending.pop()
            if name not in found:
                found.add(name)
                pending.extend(self.manifest.get(name).inputs)
        return found

    def _ensure(self, model: Model, full: bool) -> int:
        broken = [f for f in model.files if self.here.check(f, full=full)]
        if not broken:
            return 0
        # A converted model is rebuilt whole (its inputs are ensured first by order()),
        # unless the shared store already holds an intact conversion: then only linked.
        if model.converted:
            if self.store == self.models_dir or any(self.stored.check(f) for f in model.files):
                self._convert(model)
            else:
                for file in model.files:
                    self._link(file)
            return len(model.files)
        for file in broken:
            if self.store == self.models_dir or self.stored.check(file, full=full):
                self._assemble(model, file)
            self._link(file)
        return len(broken)

    def _assemble(self, model: Model, file: ModelFile) -> None:
        target = self.store / file.path
        size_mb = (file.size or 0) / 1e6
        self.say(f"  assembling {file.path} ({size_mb:.1f} MB) from {model.packages[0].name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        with tmp.open("wb") as out:
            for spec in file.members:
                package_name, _, member = spec.rpartition(":")
                wheel = self._wheel(model, package_name or model.packages[0].name)
                try:
                    with zipfile.ZipFile(wheel) as archive, archive.open(member) as src:
                        shutil.copyfileobj(src, out, 1 << 20)
                except (zipfile.BadZipFile, KeyError) as exc:
                    wheel.unlink(missing_ok=True)  # a bad download is fetched again next time
                    raise ModelError(f"{wheel.name} is damaged or lacks {member}: {exc}") from exc
            out.flush()
            os.fsync(out.fileno())
        actual = sha256_of(tmp)
        if actual != file.sha256:
            tmp.unlink()
            for package in model.packages:
                for wheel in self._wheels(package.name, package.version):
                    wheel.unlink()
            raise ModelError(
                f"{file.path}: checksum {actual[:12]}... does not match the manifest "
                f"({(file.sha256 or '')[:12]}...); the download was removed: run `make setup`",
                Stage.SETUP,
            )
        os.replace(tmp, target)
        self.stored.record(file.path, actual)

    def _link(self, file: ModelFile) -> None:
        if self.store == self.models_dir:
            self.here.record(file.path, self.stored.expected_sha256(file) or "")
            return
        source, dest = self.store / file.path, self.models_dir / file.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        try:
            os.link(source, dest)  # same inode: no second copy of a gigabyte
        except OSError:
            shutil.copy2(source, dest)
        self.here.record(file.path, self.stored.expected_sha256(file) or sha256_of(dest))

    def _convert(self, model: Model) -> None:
        assert model.convert is not None
        converter = self.converters.get(model.convert)
        if converter is None:
            raise ModelError(f"{model.name}: unknown converter '{model.convert}'", Stage.SETUP)
        inputs = [
            self.models_dir / f.path for name in model.inputs for f in self.manifest.get(name).files
        ]
        outputs = [self.store / f.path for f in model.files]
        self.say(f"  converting {model.name} ({model.convert}), once")
        for out in outputs:
            out.parent.mkdir(parents=True, exist_ok=True)
        with _quiet_root_logger():  # the converters' libraries chat at INFO on the root logger
            converter(inputs, outputs)
        for file, out in zip(model.files, outputs, strict=True):
            self.stored.record(file.path, sha256_of(out))
            self._link(file)

    def _wheels(self, package: str, version: str) -> list[Path]:
        stem = re.sub(r"[-_.]+", "_", package).lower()
        if not self.downloads.is_dir():
            return []
        return [
            p
            for p in self.downloads.glob("*.whl")
            if p.name.lower().startswith(f"{stem}-{version}-")
        ]

    def _wheel(self, model: Model, package_name: str) -> Path:
        package = next(p for p in model.packages if p.name == package_name)
        found = self._wheels(package.name, package.version)
        if found:
            return found[0]
        self.say(f"  downloading {package.name}=={package.version} from PyPI")
        self.downloads.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "-d", str(self.downloads),
            f"{package.name}=={package.version}",
        ]  # fmt: skip
        if model.platform:
            command += ["--platform", model.platform]
        result = subprocess.run(command, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
        found = self._wheels(package.name, package.version)
        if result.returncode != 0 or not found:
            last = (result.stderr.strip().splitlines() or ["no wheel found"])[-1]
            raise ModelError(
                f"could not download {package.name}=={package.version}: {last}", Stage.SETUP
            )
        return found[0]
