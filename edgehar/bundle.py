"""Model bundles: the folder every stage writes to and reads from, never guessing.

A bundle ``models/<name>/`` holds ``model.keras``, ``metadata.json`` (schema-versioned),
``history.json`` and, after export, ``model_<variant>.tflite`` files. This module needs
no TensorFlow: the runtime reads bundles too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from edgehar import atomic
from edgehar.errors import BundleError
from edgehar.preprocess.pipeline import Pipeline

SCHEMA = "edgehar.bundle/1"
DEFAULT_MODEL_FILE = "DEFAULT"
"""A file in the models folder naming the bundle `edgehar stream` uses by default."""


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

    @classmethod
    def load(cls, path: Path | str) -> Bundle:
        path = Path(path)
        meta_path = path / "metadata.json"
        if not meta_path.is_file():
            raise BundleError(f"{path}: not a model bundle (no metadata.json)")
        try:
            metadata = json.loads(meta_path.read_text())
        except json.JSONDecodeError as err:
            raise BundleError(f"{meta_path}: invalid JSON at line {err.lineno}: {err.msg}") from err
        if metadata.get("schema") != SCHEMA:
            raise BundleError(f"{meta_path}: schema {metadata.get('schema')!r} is not {SCHEMA!r}")
        return cls(path, metadata)

    @classmethod
    def default(cls) -> Bundle:
        """The bundle named by ``models/DEFAULT``."""
        folder = models_dir()
        pointer = folder / DEFAULT_MODEL_FILE
        if not pointer.is_file():
            raise BundleError(f"no default model: {pointer} is missing; pass --model BUNDLE")
        return cls.load(folder / pointer.read_text().strip())

    @property
    def name(self) -> str:
        return self.metadata.get("name", self.path.name)

    @property
    def pipeline(self) -> Pipeline:
        return Pipeline.from_dict(self.metadata["pipeline"])

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.metadata["classes"])

    @property
    def smoothing(self) -> str:
        """The smoothing `edgehar stream` applies unless told otherwise (metadata 'smoothing')."""
        return self.metadata.get("smoothing", "none")

    @property
    def window(self) -> int:
        return int(self.metadata["window"])

    @property
    def hop(self) -> int:
        return int(self.metadata["hop"])

    def file(self, name: str) -> Path:
        p = self.path / name
        if not p.is_file():
            raise BundleError(f"{self.path}: missing {name}")
        return p

    def tflite(self, variant: str) -> Path:
        """Path of an exported variant (float32, float16, dynamic, int8)."""
        p = self.path / f"model_{variant}.tflite"
        if not p.is_file():
            raise BundleError(f"{self.path}: no {p.name}; run `edgehar export {self.path}` first")
        return p

    def update_metadata(self, **changes) -> Bundle:
        """Merge top-level keys into metadata.json (atomically) and return the new bundle."""
        metadata = {**self.metadata, **changes}
        atomic.write_json(self.path / "metadata.json", metadata)
        return Bundle(self.path, metadata)
