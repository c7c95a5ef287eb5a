"""How well will a training recipe do on people it has never seen? Cross-validation, live.

Leave-subjects-out (sessions when fewer than two people are named) over labelled recordings:
for every recipe × seed × fold, train on the fold's training people (early stopping on groups
held out among them, as ``edgehar train --recordings`` does), export float32 and int8, fit the
decoder on the training people's label sequences only, stream the held-out people's recordings
through the live runtime and keep every window's probabilities. Scoring (:func:`live_scores`,
per smoothing, pooled and per person) runs on those kept probabilities, so another smoothing
costs no training.

Folds are stratified: when every group holds every class, group ``i`` of the naturally sorted
groups goes to fold ``i mod k`` (the live benchmark's folds); otherwise groups are dealt out so
that fold sizes differ by at most one and each fold's held-out people cover as many classes as
the data allows.

Tasks run as Ray tasks when more than one worker or a cluster is asked for (an optional extra:
``pip install "edgehar[cluster]"``), else one after another in this process. A task returns its
bundle's files and its streamed windows; they are cached under ``cache`` in a folder keyed on the
data, class map, recipe, seed and held-out groups, so a rerun skips every finished task.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from edgehar import atomic
from edgehar.bundle import Bundle
from edgehar.data.locate import resolve_data
from edgehar.data.recordings import (
    ClassMap,
    Recording,
    RecordingWindows,
    concat_windows,
    label_runs,
    natural,
    recording_groups,
)
from edgehar.errors import OptionError
from edgehar.preprocess.pipeline import Pipeline
from edgehar.runtime.smoothing import make_smoother
from edgehar.scoring.livescore import StreamedRecording, live_scores
from edgehar.spec import ACTIVITIES, HOP, WINDOW

VARIANTS = ("int8", "float32")
SMOOTHING = "hmm:1"
"""What a fold's bundle smooths with by default, as the shipped defaults do (its decoder is fitted on
the fold's training people)."""
SCORED = ("accuracy", "macro_f1", "label_changes_per_minute", "true_changes_per_minute", "changes_ratio",
          "delay_s_median", "delay_s_p90")
"""The scores summarised as mean ± std over folds (plus every class's recall)."""
_STREAMED = ("probs", "start", "end", "sample_labels")


@dataclass(frozen=True)
class Recipe:
    """What ``edgehar train`` would be given: a model family, its parameters and the training options."""

    family: str
    params: dict = field(default_factory=dict)
    pipeline: str | None = None
    epochs: int | None = None
    min_epochs: int = 0
    batch_size: int | None = None
    normalize: bool | None = None
    augment: bool | None = None
    hop: int = HOP
    per_channel: bool = True
    val_groups: int | None = None
    """Groups held out among the training people for early stopping (None: about 20%, as train does)."""
    patience: int | None = None
    max_rotation: float | None = None
    with_uci: bool = False
    """Also train on UCI HAR's published training windows (:func:`uci_training_windows`)."""

    @property
    def name(self) -> str:
        return (self.family + (f" {json.dumps(self.params, separators=(',', ':'))}" if self.params else "")
                + (" +uci" if self.with_uci else ""))


@dataclass(frozen=True)
class Task:
    """One training run: ``recipe`` with ``seed``, holding out the groups of fold ``fold``."""

    recipe: Recipe
    seed: int
    fold: int
    held: tuple[str, ...]
    folder: str
    class_spec: str
    threads: int = 1
    variants: tuple[str, ...] = VARIANTS
    uci: str | None = None
    """The UCI HAR data of a ``with_uci`` recipe."""

    def key(self, data: str) -> str:
        """Cache key: the data's fingerprint ``data``, the class map, the recipe, seed, held-out groups
        and the variants streamed (``with_uci`` only when set: other runs keep their keys)."""
        recipe = {k: v for k, v in asdict(self.recipe).items() if k != "with_uci" or v}
        text = json.dumps([data, self.class_spec, recipe, self.seed, list(self.held),
                           list(self.variants)], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def fingerprint(recordings: Iterable[Recording]) -> str:
    """SHA-256 of what the recordings hold (samples, times, labels, people, sessions), not of their files."""
    h = hashlib.sha256()
    for r in recordings:
        for a in (r.raw, r.t, r.labels):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(json.dumps([r.subject, r.session, list(r.label_names), r.rate_hz]).encode())
    return h.hexdigest()


def classes_covered(recording: Recording, class_map: ClassMap) -> set[int]:
    """Classes (0-based) that last a whole window somewhere in ``recording``."""
    return {c - 1 for c, start, end in label_runs(class_map.codes(recording)) if end - start >= WINDOW}


def plan_folds(recordings: list[Recording], class_map: ClassMap, k: int | None,
               stratify: bool = True) -> tuple[str, list[list[str]]]:
    """(``"subject"`` or ``"session"``, the held-out groups of each of ``k`` folds; None: one per group).
    Without ``stratify``, group ``i`` in natural order goes to fold ``i mod k`` whatever classes it holds."""
    by, groups = recording_groups(recordings)
    names = sorted(set(groups), key=natural)
    k = len(names) if k is None else k
    if not 2 <= k <= len(names):
        raise OptionError(f"--folds {k}: the recordings hold {len(names)} {by}"
                          f"{'s' if len(names) != 1 else ''}; use 2..{len(names)} folds")
    covers = {g: set() for g in names}
    for rec, g in zip(recordings, groups, strict=True):
        covers[g] |= classes_covered(rec, class_map)
    everything = set(range(len(class_map.classes)))
    if not stratify or all(c == everything for c in covers.values()):
        return by, [names[i::k] for i in range(k)]
    holders = {c: sum(c in covered for covered in covers.values()) for c in everything}
    rarest_first = sorted(names, key=lambda g: (min((holders[c] for c in covers[g]), default=len(names) + 1),
                                                natural(g)))
    folds: list[list[str]] = [[] for _ in range(k)]
    covered: list[set[int]] = [set() for _ in range(k)]
    for g in rarest_first:
        smallest = min(len(f) for f in folds)
        fold = max((i for i in range(k) if len(folds[i]) == smallest),
                   key=lambda i: (len(covers[g] - covered[i]), -i))
        folds[fold].append(g)
        covered[fold] |= covers[g]
    return by, [sorted(f, key=natural) for f in folds]


def _limit_threads(threads: int) -> None:
    """Bound the numeric libraries and TensorFlow of this process to ``threads`` threads, both within an
    op and between independent ops (the latter leaves the weights as they are: measured, the same
    ``.tflite`` bytes with 1 or 2 inter-op threads; the intra-op count changes them)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                "TF_NUM_INTEROP_THREADS"):
        os.environ[var] = str(threads)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # a reused worker: TensorFlow already runs with the bound set at its first task
        pass


def run_task(task: Task, recordings: list[Recording]) -> dict:
    """Train, export, fit the decoder and stream the held-out recordings of one task (``recordings``:
    those of ``task.folder``, read once by the caller).

    Returns ``meta`` (what the run was, with the seconds of each phase, the process that ran it and its
    niceness), ``files`` (the fold bundle's files, name -> bytes) and ``streamed`` (per variant, the
    streamed windows as npz bytes)."""
    from edgehar import tflog

    began = time.time()
    seconds: dict[str, float] = {}
    lap = partial(_lap, seconds, [time.perf_counter()])
    with tflog.quiet():
        _limit_threads(task.threads)
        from edgehar.export.convert import export_variants
        from edgehar.model.train import TrainConfig, fit, recordings_metadata, write_bundle
    from edgehar.data.recordings import recording_windows
    from edgehar.runtime import hmm_fit
    from edgehar.scoring.validate import stream_recordings

    lap("imports")
    class_map = ClassMap.parse(task.class_spec)
    _, groups = recording_groups(recordings)
    train = [r for r, g in zip(recordings, groups, strict=True) if g not in task.held]
    held = [r for r, g in zip(recordings, groups, strict=True) if g in task.held]
    recipe = task.recipe
    options = dict(epochs=recipe.epochs, batch_size=recipe.batch_size, seed=task.seed,
                   normalize=recipe.normalize, augment=recipe.augment, min_epochs=recipe.min_epochs)
    options.update({k: v for k in ("patience", "max_rotation") if (v := getattr(recipe, k)) is not None})
    pipeline = Pipeline.preset(TrainConfig(recipe.family, pipeline=recipe.pipeline).resolved().pipeline)
    if pipeline.train_from == "dataset":  # as train --recordings: live, causal9 is the same maths
        pipeline = Pipeline.preset("causal9")
    windows = recording_windows(train, pipeline, class_map, recipe.hop, source=task.folder)
    if recipe.with_uci:
        windows = concat_windows([windows, uci_training_windows(
            task.uci, sorted(set(groups) - set(task.held)), groups, pipeline)])
    n_groups = len(set(windows.groups()[1].tolist()))
    val_groups = recipe.val_groups
    if val_groups is None:
        val_groups = max(1, round(n_groups / 5)) if n_groups >= 3 else 0
    config = TrainConfig(recipe.family, dict(recipe.params), pipeline=pipeline.name, val_subjects=val_groups,
                         **options)
    lap("data")
    with tempfile.TemporaryDirectory() as tmp:
        with tflog.quiet():
            result = fit(config, windows, None, progress=False)
            lap("train")
            bundle = write_bundle(Path(tmp) / "bundle", result, windows, f"fold{task.fold}",
                                  recordings=recordings_metadata(Path(task.folder), train, class_map, windows,
                                                                 recipe.hop))
            export_variants(bundle, windows, task.variants, per_channel=recipe.per_channel)
        lap("export")
        bundle = Bundle.load(bundle.path)
        # the HMM and the duration decoder, as `edgehar decoder` fits them
        bundle = hmm_fit._store(bundle, partial(
            hmm_fit.estimate_hmm_recordings, train, class_map, window=bundle.window, hop=bundle.hop,
            source={"folder": task.folder, "held_out": list(task.held)}), None)
        bundle = bundle.update_metadata(smoothing=SMOOTHING)
        lap("decoder")
        streamed = {variant: _npz(stream_recordings(bundle, held, variant)[0]) for variant in task.variants}
        files = {p.name: p.read_bytes() for p in bundle.path.iterdir() if p.is_file()}
        lap("stream")
    history = result.history
    meta = {"recipe": recipe.name, "seed": task.seed, "fold": task.fold, "held_out": list(task.held),
            "train_groups": sorted({g for g in groups if g not in task.held}, key=natural),
            "train_windows": len(windows), "epochs_run": len(history.get("loss", [])),
            "best_val_accuracy": max(history["val_accuracy"]) if history.get("val_accuracy") else None,
            "train_seconds": round(time.time() - began, 1), "seconds": seconds, "process": os.getpid(),
            "nice": os.nice(0)}
    return {"meta": meta, "files": files, "streamed": streamed}


def _lap(seconds: dict[str, float], last: list[float], phase: str) -> None:
    """Add the time since the previous lap to ``seconds[phase]``."""
    now = time.perf_counter()
    seconds[phase] = round(now - last[0], 2)
    last[0] = now


def uci_training_windows(source: str, people: Iterable[str], everyone: Iterable[str],
                         pipeline: Pipeline) -> RecordingWindows:
    """UCI HAR's published training windows to train on beside a fold's recordings, as ``pipeline``'s
    channels. When the recordings' people (``everyone``) include UCI HAR subjects (a HAPT layout: its
    users are UCI HAR's subjects, matched by id), those of the fold's training ``people`` only, each in
    its person's group; else the whole training split, each subject a group of its own. The held-out
    people's windows are never among them; the test split is never read."""
    from edgehar.data.uci import load_split
    from edgehar.preprocess.prepare import channel_windows

    uci = load_split(Path(source), "train")
    ids = uci.subject.astype(str)
    matched = bool(set(ids) & set(everyone))
    if matched:
        uci = uci.take(np.isin(ids, list(people)))
    windows = channel_windows(uci, pipeline)
    ids = windows.subject.astype(str)
    return replace(windows, subject=ids if matched else np.full(len(ids), ""),
                   experiment=np.full(len(ids), "uci-har") if matched else np.char.add("uci-har ", ids))


def _npz(recordings: list[StreamedRecording]) -> bytes:
    arrays = {f"{i}.{f}": getattr(r, f) for i, r in enumerate(recordings) for f in _STREAMED}
    about = [{"name": r.name, "subject": str(r.subject), "rate_hz": r.rate_hz,
              "label_names": list(r.label_names)} for r in recordings]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, about=json.dumps(about), **arrays)
    return buffer.getvalue()


def load_streamed(path: Path) -> list[StreamedRecording]:
    """The streamed windows a task kept (see :func:`run_task`)."""
    with np.load(path) as z:
        about = json.loads(str(z["about"]))
        return [StreamedRecording(name=a["name"], subject=a["subject"], rate_hz=a["rate_hz"],
                                  label_names=tuple(a["label_names"]),
                                  **{f: z[f"{i}.{f}"] for f in _STREAMED}) for i, a in enumerate(about)]


def save_task(folder: Path, result: dict) -> None:
    """Write a finished task's result under ``folder``; ``meta.json`` last, which marks it done."""
    (folder / "bundle").mkdir(parents=True, exist_ok=True)
    for name, data in result["files"].items():
        atomic.write_bytes(folder / "bundle" / name, data)
    for variant, data in result["streamed"].items():
        atomic.write_bytes(folder / f"streamed-{variant}.npz", data)
    atomic.write_json(folder / "meta.json", result["meta"])


def execute(tasks: list[Task], run: Callable[[Task, object], dict], done: Callable[[Task, dict], None],
            data: object, *, workers: int = 1, address: str | None = None) -> str:
    """Run ``run(task, data)`` for each of ``tasks`` and call ``done(task, result)`` as each finishes;
    returns how they ran.

    Ray runs them when ``address`` names a cluster or ``workers`` > 1 (local worker processes, started
    once and reused by every task; ``data`` goes into Ray's object store once, so no task reads the
    recordings again and no node needs them on its disk); without Ray, or with one worker, they run one
    after another in this process."""
    try:
        import ray
    except ModuleNotFoundError:
        if address:
            raise OptionError(f"--ray {address}: Ray is not installed; install the cluster extra: "
                              'pip install "edgehar[cluster]"') from None
        ray = None
    if ray is None or (workers <= 1 and not address):
        for task in tasks:
            done(task, run(task, data))
        return "sequential" + (" (Ray is not installed)" if ray is None and workers > 1 else "")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # Ray runs its workers 15 nicer than itself by default: on a shared machine they would lose
        # the CPU to every other job, while --workers 1 trains at this process's own priority.
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 object_store_memory=200 * 2**20, _system_config={"worker_niceness": 0})
    try:
        largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=0)
        wanted = max(task.threads for task in tasks)
        if wanted > largest:
            raise OptionError(f"--threads {wanted}: the largest node of the Ray cluster has {largest:g} "
                              "CPUs; a task must fit on one node")
        remote, shared = ray.remote(run), ray.put(data)
        pending = {remote.options(num_cpus=task.threads).remote(task, shared): task for task in tasks}
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            done(pending.pop(ready), ray.get(ready))
    finally:
        ray.shutdown()
    return f"Ray cluster at {address}" if address else f"Ray, {workers} local workers"


def crossval(folder: Path, recordings: list[Recording], class_map: ClassMap, recipes: list[Recipe], *,
             folds: int | None = 5, stratify: bool = True, seeds: Iterable[int] = (1,),
             smoothers: Iterable[str] = ("none",), variants: tuple[str, ...] = VARIANTS, workers: int = 1,
             address: str | None = None, threads: int | None = None, cache: Path, out: Path,
             only_folds: Iterable[int] | None = None, uci: Path | None = None,
             log: Callable[[str], None] = print) -> dict:
    """Cross-validate ``recipes`` on ``recordings`` (read from ``folder``): plan the folds (``folds``
    None: one per group), run every recipe × seed × fold task not in ``cache`` (those of ``only_folds``
    if given), score each as it finishes and write the report to ``out`` each time; returns it.
    ``with_uci`` recipes also train on the UCI HAR data ``uci`` (default: as ``--data`` finds it)."""
    by, plan = plan_folds(recordings, class_map, folds, stratify)
    if any(r.with_uci for r in recipes):
        if class_map.classes != ACTIVITIES:
            raise OptionError(f"--with-uci: UCI HAR's windows are labelled {','.join(ACTIVITIES)}; the "
                              f"classes here are {','.join(class_map.classes)}")
        uci = str(resolve_data(uci).resolve())
    fewest = len({g for held in plan for g in held}) - max(len(held) for held in plan)
    for r in recipes:
        if r.val_groups is not None and r.val_groups >= fewest:
            raise OptionError(f"--val-groups {r.val_groups}: a fold trains on as few as {fewest} {by}"
                              f"{'s' if fewest != 1 else ''}; hold out 0..{fewest - 1}")
    data = fingerprint(recordings)
    seeds, smoothers = list(seeds), list(dict.fromkeys(["none", *smoothers]))
    per_task = threads or (1 if address else max(1, (os.cpu_count() or 1) // workers))
    tasks = [Task(r, s, i, tuple(held), str(folder.resolve()), class_map.spec, per_task, tuple(variants),
                  uci if r.with_uci else None)
             for r in recipes for s in seeds for i, held in enumerate(plan)
             if only_folds is None or i in set(only_folds)]
    log(f"{len(recordings)} recordings, {len(plan)} folds by {by} ({'; '.join(', '.join(f) for f in plan)}), "
        f"{len(recipes)} recipe(s) × {len(seeds)} seed(s): {len(tasks)} tasks")
    report = {"about": "edgehar crossval: leave-subjects-out live cross-validation; mean ± std over runs "
                       "(folds × seeds)",
              "recordings": str(folder.resolve()), "data_sha256": data,
              "classes": list(class_map.classes), "class_map": class_map.spec, "by": by,
              "folds": len(plan), "held_out": plan, "seeds": seeds, "smoothing": smoothers,
              "variants": list(variants), "results": {}}
    finished: list = []

    def done(task: Task, result: dict | None) -> None:
        folder = cache / task.key(data)
        if result is not None:
            save_task(folder, result)
        meta = {**json.loads((folder / "meta.json").read_text()), "cache": str(folder)}
        finished.append((task, meta, score_task(folder, class_map, smoothers, variants)))
        report["results"] = summarise(finished)
        atomic.write_json(out, report)
        accuracy = finished[-1][2][variants[0]][SMOOTHING]["accuracy"]
        log(f"[{len(finished)}/{len(tasks)}] {task.recipe.name}, seed {task.seed}, fold {task.fold} "
            f"({', '.join(task.held)}): {variants[0]} {SMOOTHING} {accuracy:.2%}"
            + (" (cached)" if result is None else f" ({meta['train_seconds']:.0f} s)"))

    todo = [t for t in tasks if not (cache / t.key(data) / "meta.json").is_file()]
    for task in tasks:
        if task not in todo:
            done(task, None)
    report["ran"] = (execute(todo, run_task, done, recordings, workers=workers, address=address)
                     if todo else "cache")
    atomic.write_json(out, report)
    return report


def score_task(folder: Path, class_map: ClassMap, smoothers: Iterable[str],
               variants: Iterable[str] = VARIANTS) -> dict:
    """Live scores of a finished task: per variant and smoothing, pooled and per person."""
    bundle = Bundle.load(folder / "bundle")
    specs = list(dict.fromkeys([*smoothers, bundle.smoothing]))
    out = {}
    for variant in variants:
        streamed = load_streamed(folder / f"streamed-{variant}.npz")
        people = sorted({str(r.subject) for r in streamed}, key=natural)
        out[variant] = {}
        for spec in specs:
            new = partial(make_smoother, spec, bundle)
            scores = partial(live_scores, classes=bundle.classes, spec=spec, new_smoother=new,
                             members=class_map.members)
            pooled = scores(streamed)
            pooled["per_person"] = {p: _person(scores([r for r in streamed if str(r.subject) == p]))
                                    for p in people}
            out[variant][spec] = pooled
    return out


def _person(scores: dict) -> dict:
    return {k: scores[k] for k in ("accuracy", "macro_f1", "changes_ratio", "delay_s_median", "recall")}


def mean_std(rows: list[dict]) -> dict:
    """Mean and std over folds of every SCORED score and of every class's recall."""
    summary = {}
    for key in SCORED:
        values = np.array([r[key] for r in rows if r.get(key) is not None], dtype=float)
        summary[key] = ({"mean": float(values.mean()), "std": float(values.std())} if len(values)
                        else {"mean": None, "std": None})
    for cls in rows[0]["recall"]:
        values = np.array([r["recall"].get(cls, np.nan) for r in rows], dtype=float)
        known = values[~np.isnan(values)]
        summary[f"recall_{cls}"] = ({"mean": float(known.mean()), "std": float(known.std())} if len(known)
                                    else {"mean": None, "std": None})
    return summary


def summarise(finished: list[tuple[Task, dict, dict]]) -> dict:
    """Per recipe, variant and smoothing: each task's scores and their mean ± std, from
    ``(task, meta, scores)`` of the finished tasks."""
    results: dict = {}
    for task, meta, scores in sorted(finished, key=lambda f: (f[0].recipe.name, f[0].seed, f[0].fold)):
        entry = results.setdefault(task.recipe.name,
                                   {"recipe": asdict(task.recipe), "runs": [], "variants": {}})
        entry["runs"].append(meta)
        for variant, by_spec in scores.items():
            for spec, s in by_spec.items():
                runs = entry["variants"].setdefault(variant, {}).setdefault(spec, {"per_run": []})
                runs["per_run"].append(s)
    for entry in results.values():
        for by_spec in entry["variants"].values():
            for s in by_spec.values():
                s["mean"] = mean_std(s["per_run"])
    return results


def plot(report: dict, png: Path) -> Path:
    """Live accuracy of each recipe and smoothing (int8): mean ± std over runs, and every run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(f"{textwrap.fill(name, 18)}\n{spec}", s) for name, entry in report["results"].items()
            for spec, s in entry["variants"].get("int8", {}).items()]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.7 * len(rows)), 4.0), dpi=110)
    for i, (_, s) in enumerate(rows):
        acc = s["mean"]["accuracy"]
        ax.bar(i, acc["mean"] * 100, yerr=acc["std"] * 100, color="#4c72b0", alpha=0.75, capsize=4)
        runs = [r["accuracy"] * 100 for r in s["per_run"]]
        ax.plot([i] * len(runs), runs, "o", color="black", markersize=3)
    ax.set_xticks(range(len(rows)), [label for label, _ in rows], fontsize=7)
    low = min((r["accuracy"] for _, s in rows for r in s["per_run"]), default=0.5) * 100
    ax.set_ylim(max(0.0, low - 5), 100)
    ax.set_ylabel("live accuracy, int8 (%)")
    ax.set_title(f"crossval: {report['folds']} folds by {report['by']}, {len(report['seeds'])} seed(s)",
                 fontsize=9)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    tmp = png.with_name(png.name + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(png)
    return png
