"""Fit a model family on labelled windows and write it as a bundle.

The windows are UCI HAR's (:class:`HarWindows`, six activities) or cut from recordings
(:class:`RecordingWindows`, any class set); the model's outputs are the windows' ``classes``.
The recipe (epochs, batch size, pipeline, normalization) defaults per family to the
reference notebook's; everything that shaped the model goes into ``metadata.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from edgehar import __version__, atomic
from edgehar.bundle import SCHEMA, Bundle, sha256_of
from edgehar.data.dataset import HarWindows
from edgehar.data.recordings import RecordingWindows, natural
from edgehar.errors import BundleError
from edgehar.metadata import seal
from edgehar.model import architectures, recipes
from edgehar.model.augment import Augmenter
from edgehar.model.complexity import macs
from edgehar.model.metrics import classification_report, predicted_index
from edgehar.model.progress import RichProgress
from edgehar.preprocess.pipeline import Pipeline
from edgehar.preprocess.prepare import pipeline_channels
from edgehar.scoring.confidence import mean_confidence
from edgehar.spec import HOP, SAMPLE_RATE_HZ, WINDOW

Windows = HarWindows | RecordingWindows


@dataclass
class TrainConfig:
    family: str = "lstm"
    params: dict = field(default_factory=dict)
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 1
    pipeline: str | None = None
    normalize: bool | None = None
    augment: bool | None = None
    max_rotation: float = 15.0
    """Largest random rotation of the sensor axes (degrees) when augmenting: it also turns
    gravity, which is what tells sitting from standing, so keep it to how much a mounting varies."""
    learning_rate: float = 1e-3
    cosine: bool | None = None
    """Decay the learning rate to zero along a cosine over all epochs (else constant)."""
    val_subjects: int = 0
    """Hold out this many groups for validation and early stopping (0: none): subjects, or for
    recordings naming fewer than 2 subjects, sessions (see ``RecordingWindows.groups``)."""
    val_seed: int | None = None
    """Seed that draws the validation groups (default: ``seed``); fix it to compare seeds on
    the same held-out groups."""
    patience: int = 25
    min_epochs: int = 0
    """Early stopping may stop only after this many epochs: compact models sit on a plateau
    (sitting and standing confused) for tens of epochs before they break through."""

    def resolved(self) -> TrainConfig:
        """Fill every unset field from the family's defaults."""
        defaults = recipes.recipe(self.family)
        filled = {k: (getattr(self, k) if getattr(self, k) is not None else defaults.get(k))
                  for k in ("epochs", "batch_size", "pipeline", "normalize", "augment", "cosine")}
        filled["augment"], filled["cosine"] = bool(filled["augment"]), bool(filled["cosine"])
        return TrainConfig(**{**asdict(self), **filled,
                              "params": {**defaults.get("params", {}), **self.params}})


@dataclass
class TrainResult:
    model: keras.Model
    pipeline: Pipeline
    config: TrainConfig
    history: dict
    test_report: dict | None
    validation: dict | None = None
    """``by`` (subject or session), the held-out ``groups`` and the Keras model's ``report`` on
    them (optimistic: they also chose the epoch), when groups were held out."""


def data_checksum(windows: Windows) -> str:
    h = hashlib.sha256()
    for a in (windows.X, windows.y, windows.subject):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _deterministic_ops() -> None:
    """Same seed, same machine, same model: make TensorFlow's kernels deterministic."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def split_validation(train: Windows, n_groups: int, seed: int):
    """``train`` without and with ``n_groups`` held-out groups drawn by ``seed``, and
    ``{"by": ..., "groups": [...]}`` (None when nothing is held out)."""
    if n_groups <= 0:
        return train, None, None
    by, groups = train.groups()
    names = np.unique(groups)
    if n_groups >= len(names):
        raise ValueError(f"cannot hold out {n_groups} of {len(names)} {by} groups for validation: "
                         "training needs at least one")
    held = np.random.default_rng(seed).choice(names, size=n_groups, replace=False)
    mask = np.isin(groups, held)
    return train.take(~mask), train.take(mask), {"by": by, "groups": sorted(held.tolist(), key=natural)}


class AccuracyThenLoss(keras.callbacks.Callback):
    """Logs ``val_selection``: validation accuracy, ties broken by the lower validation loss.

    Early stopping on accuracy alone keeps the *first* of equally accurate epochs: on an easy
    class set that is an early epoch whose probabilities are still flat (its BatchNorm
    statistics unsettled), which misleads the decoder and int8 calibration. The tie-break
    term ``atan(loss) / (pi * windows)`` is below half a window, so it never outweighs one
    more window labelled right."""

    KEY = "val_selection"

    def __init__(self, windows: int):
        super().__init__()
        self.windows = windows

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "val_accuracy" in logs:
            logs[self.KEY] = logs["val_accuracy"] - math.atan(logs["val_loss"]) / (math.pi * self.windows)


def fit(config: TrainConfig, train: Windows, test: Windows | None = None,
        progress: bool = True) -> TrainResult:
    """Train one model for ``train.classes``; report on ``test`` (if given) and on the held-out
    validation groups with the Keras model."""
    config = config.resolved()
    keras.utils.set_random_seed(config.seed)
    _deterministic_ops()
    pipeline = Pipeline.preset(config.pipeline)
    classes = train.classes
    fit_part, val_part, held = split_validation(
        train, config.val_subjects, config.seed if config.val_seed is None else config.val_seed)
    channels = pipeline_channels(fit_part, pipeline)
    if config.normalize:
        pipeline = pipeline.fit(channels)
    x = pipeline.normalize(channels)
    y = keras.utils.to_categorical(fit_part.class_index, len(classes))

    model = architectures.build(config.family, x.shape[1:], len(classes), **config.params)
    learning_rate = config.learning_rate
    if config.cosine:
        steps = config.epochs * -(-len(x) // config.batch_size)
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    callbacks = [RichProgress(config.epochs, label=model.name)] if progress else []
    validation = None
    if val_part is not None:
        validation = (pipeline.normalize(pipeline_channels(val_part, pipeline)),
                      keras.utils.to_categorical(val_part.class_index, len(classes)))
        callbacks.append(AccuracyThenLoss(len(val_part)))
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=AccuracyThenLoss.KEY, mode="max", patience=config.patience, restore_best_weights=True,
            start_from_epoch=config.min_epochs))
    inputs = (Augmenter(channels, y, pipeline, config.batch_size, config.seed, config.max_rotation)
              if config.augment else x)
    history = model.fit(inputs, None if config.augment else y,
                        batch_size=None if config.augment else config.batch_size,
                        epochs=config.epochs, verbose=0, shuffle=True,
                        validation_data=validation, callbacks=callbacks)
    report = evaluate_keras(model, pipeline, test, classes) if test is not None else None
    if held is not None:
        held["report"] = evaluate_keras(model, pipeline, val_part)
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return TrainResult(model, pipeline, config, hist, report, held)


def evaluate_keras(model: keras.Model, pipeline: Pipeline, windows: Windows, model_classes=None) -> dict:
    """Classification report of a Keras model (outputs ``model_classes``, default the windows'
    classes) on labelled windows."""
    from edgehar.preprocess.prepare import model_inputs

    probs = model.predict(model_inputs(windows, pipeline), batch_size=256, verbose=0)
    return classification_report(windows.class_index,
                                 predicted_index(probs, model_classes or windows.classes, windows.classes),
                                 windows.classes, windows.subject)


def recordings_metadata(folder: Path, recordings: list, class_map, windows: RecordingWindows,
                        hop: int) -> dict:
    """What ``training.recordings`` records of the recordings a model was trained on (the
    validation groups are added by :func:`metadata_for`)."""
    return {"folder": str(Path(folder).resolve()), "classes": class_map.to_dict(), "files": len(recordings),
            "minutes": round(sum(r.minutes for r in recordings), 2),
            "subjects": sorted({r.subject for r in recordings if r.subject}, key=natural),
            "sessions": len({(r.subject, r.session) for r in recordings}), "hop": hop,
            "windows": {c: int((windows.y == k).sum()) for k, c in enumerate(windows.classes, 1)}}


def _summary(report: dict | None) -> dict | None:
    return None if report is None else {k: report[k] for k in ("windows", "accuracy", "macro_f1")}


def metadata_for(result: TrainResult, name: str, train: Windows, recordings: dict | None = None) -> dict:
    """The bundle's metadata. A model trained on windows of
    :func:`edgehar.data.recordings.recording_windows` gets
    ``training.recordings``: ``recordings`` (what :func:`recordings_metadata` gives), else the
    folder and the class map, plus the held-out groups."""
    import tensorflow as tf

    config = result.config
    validation = result.validation or {}
    training = {**asdict(config), "optimizer": "adam", "loss": "categorical_crossentropy",
                "early_stopping": f"{AccuracyThenLoss.KEY}: val_accuracy, ties to the lower val_loss",
                "epochs_run": len(next(iter(result.history.values()), [])),
                "data_source": train.source, "data_sha256": data_checksum(train),
                "train_windows": len(train)}
    if recordings is None and getattr(train, "class_map", None) is not None:
        recordings = {"folder": train.source, "classes": train.class_map.to_dict()}
    if recordings is not None:
        training["recordings"] = {**recordings, "validation_by": validation.get("by"),
                                  "validation": validation.get("groups", [])}
    from edgehar.preprocess.prepare import model_inputs

    sample = train.take(slice(0, None, max(1, len(train.y) // 1000)))  # about 1000 windows
    probs = result.model.predict(model_inputs(sample, result.pipeline), batch_size=256, verbose=0)
    metrics = {"test": _summary(result.test_report), "mean_confidence": round(mean_confidence(probs), 4)}
    if validation:
        metrics["validation"] = {"groups": validation["groups"], **_summary(validation["report"])}
    return {
        "schema": SCHEMA,
        "name": name,
        "model": {"family": config.family, "params": config.params,
                  "parameters": int(result.model.count_params()),
                  "macs_per_window": macs(result.model),
                  "input_shape": list(result.model.input_shape[1:])},
        "classes": list(train.classes),
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "window": WINDOW,
        "hop": HOP,
        "pipeline": result.pipeline.to_dict(),
        "training": training,
        "versions": {"edgehar": __version__, "tensorflow": tf.__version__,
                     "keras": keras.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "metrics": metrics,
    }


def check_replaceable(out: Path, force: bool = False) -> None:
    """Raise BundleError unless a bundle may be written to ``out``: a new or empty folder, or,
    with ``force``, an existing bundle. Anything else there is never deleted."""
    out = Path(out)
    if out.name in ("", ".", "..") or out.resolve() == Path.cwd().resolve():
        raise BundleError(f"--out {out}: name the bundle's own folder (e.g. models/mymodel), "
                          "not the current or a parent folder")
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not (out / "metadata.json").is_file():
        raise BundleError(f"{out}: exists and is not a model bundle; it is left alone: choose another --out")
    if not force:
        raise BundleError(f"{out}: a model bundle is already there; pass --force to replace it "
                          "(its exports, firmware and model card go too), or choose another --out")


def check_finite_weights(model: keras.Model) -> None:
    """A BundleError when training diverged (a weight is NaN or infinite): such a model labels
    every window the same and is never written."""
    bad = [w.path for w in model.weights if not np.isfinite(np.asarray(w.numpy(), np.float64)).all()]
    if bad:
        raise BundleError(f"training diverged: {len(bad)} of {len(model.weights)} weight tensors hold NaN or "
                          f"infinite values (first: {bad[0]}); nothing was written: lower the learning rate")


def write_bundle(out: Path, result: TrainResult, train: Windows, name: str | None = None,
                 extra: dict | None = None, force: bool = False, recordings: dict | None = None) -> Bundle:
    """Write model.keras, metadata.json and history.json to ``out`` atomically; an existing
    bundle there is replaced only with ``force`` (see :func:`check_replaceable`)."""
    out = Path(out)
    check_replaceable(out, force)
    check_finite_weights(result.model)
    metadata = {**metadata_for(result, name or out.name, train, recordings), **(extra or {})}
    with atomic.folder(out) as tmp:
        result.model.save(tmp / "model.keras")
        metadata["sha256"] = {"model.keras": sha256_of(tmp / "model.keras")}
        (tmp / "metadata.json").write_text(json.dumps(seal(metadata), indent=2) + "\n")
        (tmp / "history.json").write_text(json.dumps(result.history, indent=2) + "\n")
    return Bundle.load(out)


def repeat_summary(accuracies: list[float]) -> dict:
    a = np.asarray(accuracies) * 100
    return {"runs": [round(float(v), 3) for v in a], "mean": float(a.mean()),
            "std": float(a.std())}
