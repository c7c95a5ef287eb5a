"""Adapt a trained bundle to a new wearer, device or placement with a few minutes of their data.

The bundle's pipeline (normalization included), classes, smoothing and decoder are kept; only
weights change. A sensor worn turned (another mounting, a wrist) is handled first: ``align``
estimates the rotation of its axes from the new windows and folds it into the first layer, which
recovers what the turn cost (tools/personalise_results.py). Forgetting is what goes wrong with a
few minutes of data (the first minutes of a session are often one kind of activity), so the
update is guarded:

- ``layers``: which weights move: ``all``, ``head`` (the last Dense), ``top:K`` (the last K
  convolution blocks and the head) or ``bn`` (batch-norm scales and shifts only);
- batch-norm statistics stay the base model's (the model runs in inference mode; dropout off);
- ``distill``: learning without forgetting: the base model's own (temperature-softened)
  outputs on the new windows are a second target, so classes absent from the new data keep
  their place;
- ``l2_base``: an L2 pull of every weight towards the base weights;
- ``rehearsal``: that share of each batch is drawn from the base model's training windows,
  when the caller has them;
- ``guard``: the last part of each labelled stretch of the new data is held out; if the
  fine-tuned model is worse on it than the base model (or, with rehearsal windows, forgets more
  than ``guard_forget`` of its accuracy on them), the base weights are kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras
import numpy as np
from scipy.spatial.transform import Rotation

from edgehar.bundle import Bundle, sha256_of
from edgehar.data.recordings import RecordingWindows
from edgehar.errors import OptionError
from edgehar.model.augment import augment_batch, triplets
from edgehar.model.train import TrainConfig, TrainResult, data_checksum, write_bundle
from edgehar.preprocess.prepare import pipeline_channels
from edgehar.ranges import LEARNING_RATE, LOSS_WEIGHT, SHARE
from edgehar.spec import WINDOW

DROPPED_METADATA = ("schema", "name", "versions", "metrics", "exports", "sha256", "finetune")
"""Base metadata that describes the base's own files or results, not the fine-tuned ones; the
rest (model, classes, pipeline, its training record, smoothing, decoder, limits) is kept."""


@dataclass
class FinetuneConfig:
    layers: str = "all"
    """Weights to update: all, head, top:K (last K conv blocks + head), bn (batch-norm only)."""
    learning_rate: float = 3e-4
    epochs: int = 20
    batch_size: int = 32
    hop: int = 16
    """Samples between the windows cut from the new recordings (the bundle streams at its own hop)."""
    augment: bool = True
    max_rotation: float = 15.0
    align: bool = True
    """First estimate how the sensor is turned relative to the base model's wearers (a rotation of
    the axes, found by search over the 24 axis-aligned turns, then refined by gradient, scored by
    the model's loss on the new windows) and fold it into the first layer's weights."""
    align_min_degrees: float = 0.0
    """Apply the estimated rotation only when it turns the axes by more than this: smaller tilts
    are within what the base model met while training (its augmentation turns up to 15 degrees),
    and fitting them to a few minutes of postures moves the sitting/standing boundary."""
    align_min_loss: float = 0.0
    """Fold the rotation in only when the base model's mean cross-entropy on the new windows as
    they are exceeds this (nats): a model that already labels them well is not re-mounted."""
    keep_below_loss: float = 0.0
    """Keep the base model as it is (no alignment, no training) when its mean cross-entropy on
    the new windows is at most this (nats; 0: always adapt)."""
    distill: float = 1.0
    """Weight of the base model's softened outputs on the new windows (0: none)."""
    temperature: float = 2.0
    l2_base: float = 0.0
    """Weight of the squared distance of the weights from the base weights (0: none)."""
    rehearsal: float = 0.0
    """Share of each batch drawn from the base model's training windows (needs them; 0: none)."""
    guard: float = 0.0
    """Share of each labelled stretch of the new data held out to decide keep or revert (0: no guard)."""
    guard_forget: float = 0.01
    """With rehearsal windows: revert if accuracy on them drops by more than this."""
    seed: int = 1

    def check(self) -> FinetuneConfig:
        if self.layers not in ("all", "head", "bn") and not (
                self.layers.startswith("top:") and self.layers[4:].isdigit() and int(self.layers[4:]) > 0):
            raise OptionError(f"--layers {self.layers!r}: choose all, head, bn or top:K (K >= 1)")
        if self.epochs < 0:
            raise OptionError(f"--epochs must be 0 (align only) or more, not {self.epochs}")
        for name in ("batch_size", "hop"):
            if getattr(self, name) <= 0:
                raise OptionError(f"--{name.replace('_', '-')} must be positive, not {getattr(self, name)}")
        checks = {"learning_rate": LEARNING_RATE, "distill": LOSS_WEIGHT, "keep_below_loss": LOSS_WEIGHT,
                  "align_min_loss": LOSS_WEIGHT, "l2_base": LOSS_WEIGHT, "rehearsal": SHARE, "guard": SHARE}
        for name, allowed in checks.items():  # as the CLI checks them: NaN never reaches the weights
            allowed.check(getattr(self, name), f"--{name.replace('_', '-')}")
        return self


@dataclass
class FinetuneResult(TrainResult):
    base: Bundle | None = None
    record: dict | None = None
    """What metadata.json records under "finetune"."""


def model_sha256(bundle: Bundle) -> str:
    return bundle.checksums.get("model.keras") or sha256_of(bundle.file("model.keras"))


def _breaks(windows: RecordingWindows, hop: int, by_label: bool = False) -> np.ndarray:
    """Indices where a run of consecutive windows (``hop`` apart in one recording) starts anew."""
    new = (np.diff(windows.start) != hop) | (windows.experiment[1:] != windows.experiment[:-1]) \
        | (windows.subject[1:] != windows.subject[:-1])
    if by_label:
        new |= windows.y[1:] != windows.y[:-1]
    return np.flatnonzero(new) + 1


def guard_split(windows: RecordingWindows, share: float, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (fit, held): the last ``share`` of each run of consecutive windows of one
    label is held out; the windows overlapping it are in neither part."""
    fit, held = np.ones(len(windows), bool), np.zeros(len(windows), bool)
    if share <= 0 or not len(windows):
        return fit, held
    breaks = _breaks(windows, hop, by_label=True)
    for run in np.split(np.arange(len(windows)), breaks):
        gap = -(-WINDOW // hop)
        n_held = int(round(len(run) * share))
        if n_held < 1 or len(run) - n_held - gap < 2:
            continue
        held[run[-n_held:]] = True
        fit[run[-n_held - gap + 1:]] = False
    return fit, held


def _trainable(model: keras.Model, layers: str) -> None:
    """Mark the layers whose weights move."""
    blocks = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)
              or type(layer).__name__ == "SeparableConv1D"]
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    head = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1:]
    if layers == "all":
        chosen = set(model.layers)
    elif layers == "head":
        chosen = set(head)
    elif layers == "bn":
        chosen = set(norms)
    else:
        k = int(layers[4:])
        first = model.layers.index(blocks[-k]) if k <= len(blocks) else 0
        chosen = set(model.layers[first:])
    for layer in model.layers:
        layer.trainable = layer in chosen


def cube_rotations() -> np.ndarray:
    """The 24 proper rotations mapping the axes onto (signed) axes: the octahedral group."""
    return np.round(Rotation.create_group("O").as_matrix()) + 0.0


def channel_rotation(channels: tuple[str, ...], rotation: np.ndarray) -> np.ndarray:
    """(C, C): ``rotation`` applied to each xyz triplet of ``channels``, identity elsewhere."""
    m = np.eye(len(channels))
    for idx in triplets(channels):
        m[np.ix_(idx, idx)] = rotation
    return m


def _rotvec_matrix(tf, v):
    """Rodrigues: the rotation matrix of rotation vector ``v`` (a tf tensor of 3)."""
    angle = tf.sqrt(tf.reduce_sum(v * v) + 1e-12)
    k = v / angle
    skew = tf.stack([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return tf.eye(3) + tf.sin(angle) * skew + (1 - tf.cos(angle)) * (skew @ skew)


def estimate_rotation(model: keras.Model, pipeline, channels: np.ndarray, labels: np.ndarray,
                      steps: int = 60, min_degrees: float = 0.0,
                      min_loss: float = 0.0) -> tuple[np.ndarray, dict]:
    """The rotation R of the sensor axes under which ``model`` best labels ``channels``
    (un-normalized windows) as ``labels``: the best of the 24 axis-aligned turns, refined by
    gradient descent on the mean cross-entropy. Returns R (new frame -> base frame) and a record."""
    import tensorflow as tf

    def loss_of(rotation):
        x = np.einsum("ij,ntj->nti", channel_rotation(pipeline.channels, rotation), channels)
        probs = model.predict(pipeline.normalize(x), batch_size=512, verbose=0)
        return float(-np.mean(np.log(probs[np.arange(len(labels)), labels] + 1e-8)))

    candidates = cube_rotations()
    losses = [loss_of(r) for r in candidates]
    start = candidates[int(np.argmin(losses))]
    mean = tf.constant(np.float32(pipeline.mean))
    std = tf.constant(np.float32(pipeline.std))
    x = tf.constant(channels, tf.float32)
    y = tf.constant(labels, tf.int32)
    groups = triplets(pipeline.channels)
    v = tf.Variable(tf.zeros(3) + 1e-3)
    optimizer = keras.optimizers.Adam(0.02)
    base = tf.constant(np.float32(start))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            r = _rotvec_matrix(tf, v) @ base
            parts = [None] * len(pipeline.channels)
            for idx in groups:
                turned = tf.einsum("ij,ntj->nti", r, tf.gather(x, idx, axis=2))
                for j, c in enumerate(idx):
                    parts[c] = turned[:, :, j]
            for c in range(len(parts)):
                if parts[c] is None:
                    parts[c] = x[:, :, c]
            xn = (tf.stack(parts, axis=2) - mean) / std
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(xn, training=False)))
        optimizer.apply(tape.gradient(loss, [v]), [v])
        return loss

    for _ in range(steps):
        step()
    rotation = (_rotvec_matrix(tf, v) @ base).numpy().astype(np.float64)
    if not np.isfinite(rotation).all():  # the refinement diverged: keep the best axis-aligned turn
        rotation = np.asarray(start, np.float64)
    u, _, vt = np.linalg.svd(rotation)
    rotation = u @ vt
    record = {"identity_loss": loss_of(np.eye(3)), "axis_turn_loss": float(min(losses)),
              "refined_loss": loss_of(rotation), "rotation": np.round(rotation, 4).tolist(),
              "angle_degrees": float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1))))}
    if (record["refined_loss"] >= record["identity_loss"] or record["angle_degrees"] <= min_degrees
            or record["identity_loss"] <= min_loss):
        rotation = np.eye(3)
    record["applied"] = not np.allclose(rotation, np.eye(3))
    return rotation, record


def fold_rotation(model: keras.Model, pipeline, rotation: np.ndarray) -> None:
    """Make ``model`` take windows of a sensor turned by ``rotation``^-1: its first layer (a
    Conv1D, followed by batch norm unless it has a bias) absorbs x_n = A x'_n + b, where
    A = D^-1 M D and b = D^-1 (M - I) mu for the channel rotation M and the pipeline's
    normalization (mu, D). Exact except where the first kernel overlaps the window's padding."""
    first = next(layer for layer in model.layers if layer.weights)
    if not isinstance(first, keras.layers.Conv1D):
        raise OptionError(f"--align needs a model whose first layer is a Conv1D, not {type(first).__name__}")
    m = channel_rotation(pipeline.channels, rotation)
    mu, sd = np.asarray(pipeline.mean), np.asarray(pipeline.std)
    a = m * sd[None, :] / sd[:, None]
    b = (m - np.eye(len(mu))) @ mu / sd
    weights = first.get_weights()
    kernel = weights[0].astype(np.float64)
    offset = np.einsum("kif,i->f", kernel, b)
    weights[0] = np.einsum("kif,ij->kjf", kernel, a).astype(np.float32)
    if first.use_bias:
        weights[1] = (weights[1] + offset).astype(np.float32)
        first.set_weights(weights)
        return
    first.set_weights(weights)
    norm = model.layers[model.layers.index(first) + 1]
    if not isinstance(norm, keras.layers.BatchNormalization):
        raise OptionError("--align needs a first Conv1D with a bias or followed by batch norm")
    gamma, beta, moving_mean, moving_var = norm.get_weights()
    norm.set_weights([gamma, beta, (moving_mean - offset).astype(np.float32), moving_var])


def _loss(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy (nats) of ``model`` on normalized windows ``x`` labelled ``y``."""
    probs = model.predict(x, batch_size=512, verbose=0)
    return float(-np.mean(np.log(probs[np.arange(len(y)), y] + 1e-8)))


def _accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    if not len(x):
        return float("nan")
    return float((model.predict(x, batch_size=512, verbose=0).argmax(axis=1) == y).mean())


def finetune(bundle: Bundle, windows: RecordingWindows, config: FinetuneConfig | None = None,
             rehearsal: RecordingWindows | None = None, model: keras.Model | None = None) -> FinetuneResult:
    """Fine-tune ``bundle``'s model on ``windows`` (cut by the bundle's pipeline without its
    normalization, labels 1..K into the bundle's classes); ``rehearsal``: the base model's own
    training windows, likewise (optional). ``model``: the bundle's Keras model if already loaded.
    The result is written by :func:`write_finetuned`."""
    import tensorflow as tf

    config = (config or FinetuneConfig()).check()
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    pipeline = bundle.pipeline
    base = model if model is not None else keras.models.load_model(bundle.file("model.keras"), compile=False)
    tuned = keras.models.clone_model(base)
    tuned.set_weights(base.get_weights())
    n_classes = base.output_shape[-1]

    channels = pipeline_channels(windows, pipeline)
    labels = windows.y - 1
    fit_mask, held_mask = guard_split(windows, config.guard, config.hop)
    x_fit, y_fit = channels[fit_mask], labels[fit_mask]
    alignment = None
    teacher = base
    base_loss = _loss(base, pipeline.normalize(x_fit), y_fit)
    requested, adapted = config, base_loss > config.keep_below_loss
    if not adapted:
        config = replace(config, align=False, epochs=0)
    if config.align:
        rotation, alignment = estimate_rotation(base, pipeline, x_fit, y_fit,
                                                min_degrees=config.align_min_degrees,
                                                min_loss=config.align_min_loss)
        if alignment["applied"]:
            fold_rotation(tuned, pipeline, rotation)
            teacher = keras.models.clone_model(tuned)
            teacher.set_weights(tuned.get_weights())
    _trainable(tuned, config.layers)
    old_x = old_y = None
    if rehearsal is not None and config.rehearsal > 0:
        old_x, old_y = pipeline_channels(rehearsal, pipeline), rehearsal.y - 1

    variables = tuned.trainable_weights
    anchors = [tf.constant(v.numpy()) for v in variables]
    optimizer = keras.optimizers.Adam(config.learning_rate)
    temperature = float(config.temperature)

    @tf.function(reduce_retracing=True)
    def step(x, y, n_new):
        with tf.GradientTape() as tape:
            probs = tuned(x, training=False)
            ce = keras.losses.sparse_categorical_crossentropy(y, probs)
            loss = tf.reduce_mean(ce)
            if config.distill:
                target = tf.nn.softmax(tf.math.log(teacher(x[:n_new], training=False) + 1e-8) / temperature)
                student = tf.nn.log_softmax(tf.math.log(probs[:n_new] + 1e-8) / temperature)
                kd = -tf.reduce_mean(tf.reduce_sum(target * student, axis=1)) * temperature ** 2
                loss += config.distill * kd
            if config.l2_base:
                loss += config.l2_base * tf.add_n([tf.reduce_sum(tf.square(v - a))
                                                   for v, a in zip(variables, anchors, strict=True)])
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    n_old = 0 if old_x is None else int(round(config.batch_size * config.rehearsal / (1 - config.rehearsal)))
    history: dict[str, list[float]] = {"loss": []}
    for _ in range(config.epochs):
        order = rng.permutation(len(x_fit))
        losses = []
        for i in range(0, len(order), config.batch_size):
            rows = order[i:i + config.batch_size]
            x, y = x_fit[rows], y_fit[rows]
            if n_old:
                pick = rng.integers(0, len(old_x), n_old)
                x, y = np.concatenate([x, old_x[pick]]), np.concatenate([y, old_y[pick]])
            if config.augment:
                x = augment_batch(x, pipeline.channels, rng, config.max_rotation)
            losses.append(float(step(pipeline.normalize(x), y.astype(np.int32), tf.constant(len(rows)))))
        history["loss"].append(float(np.mean(losses)))

    guard = None
    if config.guard > 0 and held_mask.any():
        held_x, held_y = pipeline.normalize(channels[held_mask]), labels[held_mask]
        guard = {"windows": int(held_mask.sum()), "base_accuracy": _accuracy(base, held_x, held_y),
                 "tuned_accuracy": _accuracy(tuned, held_x, held_y)}
        worse = guard["tuned_accuracy"] < guard["base_accuracy"]
        if old_x is not None:
            pick = rng.choice(len(old_x), min(2000, len(old_x)), replace=False)
            ox, oy = pipeline.normalize(old_x[pick]), old_y[pick]
            guard["rehearsal_base_accuracy"] = _accuracy(base, ox, oy)
            guard["rehearsal_tuned_accuracy"] = _accuracy(tuned, ox, oy)
            forgot = guard["rehearsal_base_accuracy"] - guard["rehearsal_tuned_accuracy"]
            worse |= forgot > config.guard_forget
        guard["kept"] = "base" if worse else "fine-tuned"
        if worse:
            tuned.set_weights(base.get_weights())
    for layer in tuned.layers:
        layer.trainable = True

    counts = np.bincount(labels, minlength=n_classes)
    record = {"base": bundle.name, "base_model_sha256": model_sha256(bundle),
              "data_source": windows.source, "data_sha256": data_checksum(windows),
              "windows": len(windows), "fit_windows": int(fit_mask.sum()),
              "minutes": round(minutes_of(windows, config.hop), 2),
              "windows_per_class": {name: int(c) for name, c in zip(bundle.classes, counts, strict=True)},
              "rehearsal_windows": 0 if old_x is None else len(old_x),
              "config": asdict(requested), "base_loss": base_loss, "adapted": adapted,
              "alignment": alignment, "guard": guard}
    family = bundle.metadata["model"]
    train_config = TrainConfig(family["family"], dict(family["params"]), epochs=config.epochs,
                               batch_size=config.batch_size, seed=config.seed, pipeline=pipeline.name,
                               learning_rate=config.learning_rate)
    return FinetuneResult(tuned, pipeline, train_config, history, None, base=bundle, record=record)


def minutes_of(windows: RecordingWindows, hop: int) -> float:
    """Labelled time the windows span: each run of consecutive windows covers WINDOW + (n-1) hops."""
    if not len(windows):
        return 0.0
    breaks = _breaks(windows, hop)
    runs = np.split(np.arange(len(windows)), breaks)
    rate = windows.pipeline.sample_rate_hz if windows.pipeline is not None else 50.0
    return sum(WINDOW + (len(r) - 1) * hop for r in runs) / rate / 60


def finetuned_metadata(result: FinetuneResult) -> dict:
    """Top-level metadata of the fine-tuned bundle beyond what train writes: the base's own
    (pipeline, classes, smoothing, decoder, limits, its training record) and "finetune"."""
    kept = {k: v for k, v in result.base.metadata.items() if k not in DROPPED_METADATA}
    return {**kept, "finetune": result.record}


def write_finetuned(out, result: FinetuneResult, windows: RecordingWindows, name: str | None = None,
                    force: bool = False) -> Bundle:
    """Write the fine-tuned bundle atomically (see :func:`edgehar.model.train.write_bundle`)."""
    return write_bundle(out, replace(result, pipeline=result.base.pipeline), windows, name,
                        extra=finetuned_metadata(result), force=force)


def first_minutes(recordings: list, class_map, minutes: float | None) -> list:
    """The recordings with only their first ``minutes`` of class-labelled time kept labelled (in
    the given order, each in time order); the rest becomes unlabelled. None: all of it."""
    if minutes is None:
        return list(recordings)
    out = []
    for rec in recordings:
        budget = int(round(minutes * 60 * rec.rate_hz))
        in_class = class_map.codes(rec) > 0
        keep = in_class & (np.cumsum(in_class) <= budget)
        minutes -= keep.sum() / rec.rate_hz / 60
        out.append(replace(rec, labels=np.where(keep, rec.labels, 0)))
    return out


def finetune_windows(bundle: Bundle, folder, hop: int, minutes: float | None = None):
    """Windows (``hop`` apart, the bundle's pipeline without its normalization) of the recordings
    in ``folder`` labelled with the bundle's classes (its class map), and notes on labels that
    are not classes. DataError (one line) when none of them makes a window of those classes."""
    from edgehar.data.labelled import labelled_recordings
    from edgehar.data.recordings import recording_windows
    from edgehar.errors import DataError

    recordings, class_map = labelled_recordings(bundle, folder)
    present = list(dict.fromkeys(name for r in recordings for name in r.labels_present()))
    ignored = [name for name in present if name not in class_map.labels]
    raw = replace(bundle.pipeline, mean=None, std=None)
    chosen = first_minutes(recordings, class_map, minutes)
    windows = recording_windows(chosen, raw, class_map, hop, str(Path(folder).resolve()))
    if not len(windows):
        raise DataError(f"{folder}: no labelled stretch of {bundle.name}'s classes is a window long "
                        f"({bundle.window} samples)")
    notes = [f"labels {', '.join(ignored)} are not classes of {bundle.name}; ignored"] if ignored else []
    return windows, notes
