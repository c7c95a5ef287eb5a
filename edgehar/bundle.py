"""Model bundles: the folder every stage writes to and reads from, never guessing.

A bundle ``models/<name>/`` holds ``model.keras``, ``metadata.json`` (schema-versioned,
see :mod:`edgehar.metadata`), ``history.json`` and, after export, ``model_<variant>.tflite``
files. Every load checks the metadata against the schema and every artifact against the
SHA-256 the metadata records for it; a bundle is only ever changed whole (:meth:`Bundle.edit`).
This module needs no TensorFlow: the runtime reads bundles too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgehar import atomic
from edgehar.checksum import sha256_of
from edgehar.errors import BundleError
from edgehar.files import FileRefused
from edgehar.metadata import SCHEMA, read_metadata, seal
from edgehar.preprocess.pipeline import Pipeline

TFLITE_VARIANTS = ("float32", "float16", "dynamic", "int8")
"""What ``edgehar export`` can write, in that order."""

__all__ = ["SCHEMA", "Bundle", "DEFAULT_MODEL_FILE", "models_dir", "sha256_of"]

DEFAULT_MODEL_FILE = "DEFAULT"
"""A file in the models folder naming the bundle `edgehar stream` uses by default."""
ARTIFACT_PATTERNS = ("model.keras", "model_*.tflite")
"""The files whose SHA-256 metadata.json records: what decides a bundle's labels."""


def models_dir() -> Path:
    """The shipped models folder: $EDGEHAR_MODELS, else the installed package's ``models/``
    (a wheel carries the default model there), else ``models/`` of the source checkout."""
    env = os.environ.get("EDGEHAR_MODELS")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent
    return package / "models" if (package / "models").is_dir() else package.parent / "models"


@dataclass(frozen=True)
class Bundle:
    path: Path
    metadata: dict
    pipeline: Pipeline = field(repr=False, compare=False, default=None)
    home: Path | None = None
    """Where the bundle lives when ``path`` is a copy being edited (see :meth:`edit`)."""

    @classmethod
    def load(cls, path: Path | str) -> Bundle:
        """The bundle at ``path``, checked: BundleError naming the file and field if it is not sound.

        A switch a crash interrupted is finished first (see :func:`edgehar.atomic.recover`).
        """
        path = Path(path)
        with contextlib.suppress(OSError):  # a read-only folder: read what is there
            atomic.recover(path)
        meta_path = path / "metadata.json"
        if not meta_path.is_file():
            raise BundleError(f"{path}: not a model bundle (no metadata.json)")
        metadata, pipeline = read_metadata(meta_path)
        bundle = cls(path, metadata, pipeline)
        for artifact in bundle.artifacts():
            bundle.verify(artifact.name)
        return bundle

    @classmethod
    def default(cls) -> Bundle:
        """The bundle named by ``models/DEFAULT``."""
        folder = models_dir()
        pointer = folder / DEFAULT_MODEL_FILE
        if not pointer.is_file():
            raise BundleError(f"no default model: {pointer} is missing; pass --model BUNDLE")
        return cls.load(folder / pointer.read_text().strip())

    @property
    def location(self) -> Path:
        """The bundle's folder as users know it (``path`` unless this is a copy being edited)."""
        return self.home or self.path

    @property
    def name(self) -> str:
        return self.metadata["name"]

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.metadata["classes"])

    @property
    def smoothing(self) -> str:
        """The smoothing `edgehar stream` applies unless told otherwise (metadata 'smoothing')."""
        return self.metadata.get("smoothing", "none")

    @property
    def window(self) -> int:
        return self.metadata["window"]

    @property
    def hop(self) -> int:
        return self.metadata["hop"]

    @property
    def checksums(self) -> dict[str, str]:
        return self.metadata.get("sha256", {})

    def artifacts(self) -> list[Path]:
        """The artifact files present in the bundle (model.keras, model_*.tflite)."""
        return sorted(p for pattern in ARTIFACT_PATTERNS for p in self.path.glob(pattern))

    def verify(self, name: str) -> Path:
        """The path of artifact ``name`` once its SHA-256 matches metadata.json's."""
        p = self.path / name
        expected = self.checksums.get(name)
        if expected is None:
            raise BundleError(f"{self.path / 'metadata.json'}: field sha256: no checksum for {name}; "
                              "re-export the bundle (or re-train it) to record one")
        try:
            actual = sha256_of(p)
        except FileRefused as err:
            raise BundleError(str(err)) from None
        except OSError as err:
            raise BundleError(f"{p}: cannot read ({err.strerror or err})") from None
        if actual != expected:
            raise BundleError(f"{p}: damaged or modified: its SHA-256 differs from the one in "
                              f"metadata.json (field sha256.{name})")
        return p

    def file(self, name: str) -> Path:
        p = self.path / name
        if not p.is_file():
            raise BundleError(f"{self.path}: missing {name}")
        return self.verify(name)

    def tflite(self, variant: str) -> Path:
        """Path of an exported variant (float32, float16, dynamic, int8), checked."""
        if variant not in TFLITE_VARIANTS:
            have = ", ".join(v for v in TFLITE_VARIANTS if (self.path / f"model_{v}.tflite").is_file())
            raise BundleError(f"no variant {variant!r}: the variants are {', '.join(TFLITE_VARIANTS)} "
                              f"({self.path.name} has {have or 'none: run `edgehar export` first'})")
        p = self.path / f"model_{variant}.tflite"
        if not p.is_file():
            raise BundleError(f"{self.path}: no {p.name}; run `edgehar export {self.path}` first")
        return self.verify(p.name)

    def update_metadata(self, **changes) -> Bundle:
        """Merge top-level keys into metadata.json (atomically) and return the new bundle."""
        metadata = seal({**self.metadata, **changes})
        atomic.write_json(self.path / "metadata.json", metadata)
        return self.reload()

    def reload(self) -> Bundle:
        """The bundle as it is on disk now."""
        return replace(Bundle.load(self.path), home=self.home)

    def record(self, names: Iterable[str], **changes) -> Bundle:
        """Record the SHA-256 of the artifacts ``names`` (and ``changes``) in metadata.json."""
        sums = {**self.checksums, **{name: sha256_of(self.path / name) for name in names}}
        return self.update_metadata(**changes, sha256=dict(sorted(sums.items())))

    @contextlib.contextmanager
    def edit(self) -> Iterator[Bundle]:
        """A copy of this bundle to change; when the block succeeds it replaces this one whole.

        Readers see the bundle as it was until the switch, then as the block left it; a crash
        or an error anywhere leaves it as it was (see :func:`edgehar.atomic.folder`).
        """
        with atomic.folder(self.path, copy=True) as tmp:
            yield replace(Bundle.load(tmp), home=self.path)
