"""Personalisation benchmark: fine-tune a model to a wearer it has never seen, and to a new mounting.

The base models are the live benchmark's folds (tools/live_results.py): 7 folds x 3 held-out
subjects over the 21 HAPT subjects, so every subject is adapted on a model that never saw
them (leave-3-subjects-out). Missing fold bundles are trained here by live_results (edgehar crossval).

For each held-out subject (two HAPT experiments each):

- adaptation data: the first N minutes (N in --minutes) of labelled activity (1..6) time of
  their first experiment, in time order; a first experiment holds 3.4-5.0 labelled minutes,
  so N=5 takes all of it (the minutes actually used are recorded);
- test: their second experiment, streamed whole, the same for every N;
- live accuracy: the window probabilities the stream computes (the causal pipeline run over the
  whole recording, cut at the bundle's hop, Keras float32), scored with
  :func:`edgehar.scoring.livescore.live_scores`, smoothing ``none`` and ``hmm:1`` (the fold bundle's
  decoder, estimated from its training subjects' labels);
- mounting change: both experiments' acc and gyro turned by the same rotation (ROTATIONS),
  before and after fine-tuning on the rotated adaptation data.

    nice -n 10 python tools/personalise_results.py --stage grid    # recipe search, folds 0-2
    nice -n 10 python tools/personalise_results.py --stage final   # chosen recipe, all folds

Every fine-tune's scores are cached in --cache (one JSON each), so runs resume. Writes
``models/personalise-results.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
import typer
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from live_results import fold_bundle, folds  # noqa: E402

from edgehar import atomic  # noqa: E402
from edgehar.bundle import Bundle, models_dir  # noqa: E402
from edgehar.data.recordings import (  # noqa: E402
    ClassMap,
    hapt_windows,
    read_hapt_recordings,
    recording_windows,
)
from edgehar.runtime.smoothing import make_smoother  # noqa: E402
from edgehar.scoring.livescore import StreamedRecording, live_scores  # noqa: E402
from edgehar.spec import ACTIVITIES  # noqa: E402

RATE = 50.0
SIX = ClassMap.identity(ACTIVITIES)


ROTATIONS = {
    "none": np.eye(3),
    # The phone turned a quarter in its own plane (about its screen normal z): gravity, which
    # the upright phone reads on x, moves to y.
    "z90": np.round(Rotation.from_euler("z", 90, degrees=True).as_matrix(), 12),
    # Wrist-like: x along a hanging forearm pointing to the hand (x flipped: Rz(180)), the
    # forearm pronated 40 degrees (Rx) and the wrist tilted 30 degrees (Ry): gravity split
    # over all three axes.
    "wrist": Rotation.from_euler("zxy", [180, 40, 30], degrees=True).as_matrix(),  # Ry(30) Rx(40) Rz(180)
}
"""v' = R v for acceleration and angular velocity alike."""

PLAIN = {"align": False, "guard": 0.0}
"""Overrides of the configs without alignment (and guard) in the grid."""
GRID = {
    # name: FinetuneConfig overrides (the defaults are the library's)
    "head": dict(PLAIN, layers="head", learning_rate=1e-3, distill=0.0),
    "bn": dict(PLAIN, layers="bn", learning_rate=1e-3, distill=0.0),
    "all": dict(PLAIN, layers="all", learning_rate=3e-4, distill=0.0),
    "all-lwf": dict(PLAIN, layers="all", learning_rate=3e-4, distill=1.0),
    "all-lwf-hop64": dict(PLAIN, layers="all", learning_rate=3e-4, distill=1.0, hop=64),
    "all-lwf-noaug": dict(PLAIN, layers="all", learning_rate=3e-4, distill=1.0, augment=False),
    "all-l2": dict(PLAIN, layers="all", learning_rate=3e-4, distill=0.0, l2_base=1e-2),
    "all-rehearse": dict(PLAIN, layers="all", learning_rate=3e-4, distill=0.0, rehearsal=0.5),
    "all-lwf-rehearse": dict(PLAIN, layers="all", learning_rate=3e-4, distill=1.0, rehearsal=0.5),
    "top2-lwf": dict(PLAIN, layers="top:2", learning_rate=1e-3, distill=1.0),
    "all-lwf-1e-3": dict(PLAIN, layers="all", learning_rate=1e-3, distill=1.0),
    # Estimate the sensor's rotation first and fold it into the first layer (then fine-tune).
    "align": dict(align=True, epochs=0, guard=0.0),
    "align-all": dict(align=True, layers="all", learning_rate=3e-4, distill=0.0, guard=0.0),
    "align-all-lwf": dict(align=True, layers="all", learning_rate=3e-4, distill=1.0, guard=0.0),
    "align-head": dict(align=True, layers="head", learning_rate=1e-3, distill=0.0, guard=0.0),
    "align-all-lwf-guard": dict(align=True, layers="all", learning_rate=3e-4, distill=1.0, guard=0.2),
    "all-lwf-guard": dict(PLAIN, layers="all", learning_rate=3e-4, distill=1.0, guard=0.2),
    # Only turns beyond the base's own augmentation (15 degrees) are folded in; gentler updates.
    "align25-head-lwf": dict(align=True, align_min_degrees=25.0, layers="head", learning_rate=1e-3,
                             distill=1.0, guard=0.0),
    "align25-all-lwf3-lr1e-4": dict(align=True, align_min_degrees=25.0, layers="all", learning_rate=1e-4,
                                    distill=3.0, guard=0.0),
    # Post hoc (after the chosen recipe's full run showed unrotated subjects re-mounted by 20-55
    # degrees and losing accuracy): align only a base model that labels the new data badly, or
    # keep a base model that labels it well as it is.
    "gated-align-all-lwf": dict(align=True, align_min_loss=1.0, layers="all", learning_rate=3e-4,
                                distill=1.0, guard=0.0),
    "keep-or-align-all-lwf": dict(align=True, keep_below_loss=1.0, layers="all", learning_rate=3e-4,
                                  distill=1.0, guard=0.0),
}


GRID_FOLDS = [0, 1, 2]
"""The folds (9 subjects) the recipe is chosen on; the final run covers all 7 (21 subjects)."""


def config_key(name: str, overrides: dict) -> str:
    """The cache folder of a config: its name and a hash of its overrides."""
    text = json.dumps(overrides, sort_keys=True)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def rotate(raw: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return np.concatenate([raw[:, :3] @ matrix.T, raw[:, 3:] @ matrix.T], axis=1)


def stream(model, bundle: Bundle, raw: np.ndarray, labels: np.ndarray, name: str,
           subject: int) -> StreamedRecording:
    """What the stream computes for a whole recording: the pipeline from its first sample, a window
    every ``hop`` samples once the first is full (Keras float32)."""
    features = bundle.pipeline.transform(raw)
    start = np.arange(0, len(raw) - bundle.window + 1, bundle.hop)
    probs = model.predict(features[start[:, None] + np.arange(bundle.window)], batch_size=512, verbose=0)
    return StreamedRecording(name=name, subject=subject, probs=probs.astype(np.float64), start=start,
                             end=start + bundle.window, sample_labels=labels, rate_hz=RATE)


def scores(recording: StreamedRecording, classes, hmm) -> dict:
    out = {}
    for spec, new in (("none", None), ("hmm:1", hmm)):
        s = live_scores([recording], classes, spec, new)
        out[spec] = {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"], "recall": s["recall"]}
    return out


class Fold:
    """One fold's base bundle, its Keras model, decoder and (lazily) its training windows."""

    def __init__(self, k: int, held: list[int], subjects: list[int], recipe: str, work: Path, hapt: Path):
        import keras

        self.k, self.held, self.hapt = k, held, hapt
        self.train_subjects = [s for s in subjects if s not in held]
        self.bundle = Bundle.load(fold_bundle(recipe, k, hapt, work))
        self.model = keras.models.load_model(self.bundle.file("model.keras"), compile=False)
        self.raw_pipeline = replace(self.bundle.pipeline, mean=None, std=None)
        self.hmm = partial(make_smoother, "hmm:1", self.bundle)
        self._rehearsal = None

    @property
    def rehearsal(self):
        if self._rehearsal is None:
            self._rehearsal = hapt_windows(self.hapt, self.raw_pipeline, subjects=self.train_subjects)
        return self._rehearsal


def run(fold: Fold, subject: int, configs: dict, minutes: list[float], rotations: list[str],
        cache: Path) -> None:
    from edgehar.model.finetune import FinetuneConfig, finetune, first_minutes

    adapt, test = read_hapt_recordings(fold.hapt, subjects=[subject])  # its two experiments, in order
    test_name = Path(test.name).name
    for rot in rotations:
        adapt_r = replace(adapt, raw=rotate(adapt.raw, ROTATIONS[rot]))
        rt = rotate(test.raw, ROTATIONS[rot])
        before_path = cache / "before" / f"s{subject:02d}-{rot}.json"
        if not before_path.exists():
            rec = stream(fold.model, fold.bundle, rt, test.labels, test_name, subject)
            atomic.write_json(before_path, {"fold": fold.k, "subject": subject, "rotation": rot,
                                            "test_experiment": int(test.session),
                                            "scores": scores(rec, fold.bundle.classes, fold.hmm)})
        for n in minutes:
            for name, overrides in configs.items():
                path = cache / config_key(name, overrides) / f"s{subject:02d}-n{n:g}-{rot}.json"
                if path.exists():
                    continue
                config = FinetuneConfig(**overrides)
                began = time.time()
                windows = recording_windows(first_minutes([adapt_r], SIX, n), fold.raw_pipeline, SIX,
                                            config.hop, f"{Path(adapt.name).name} first {n:g} min, {rot}")
                rehearsal = fold.rehearsal if config.rehearsal > 0 else None
                result = finetune(fold.bundle, windows, config, rehearsal, fold.model)
                rec = stream(result.model, fold.bundle, rt, test.labels, test_name, subject)
                record = {k: result.record.get(k) for k in ("windows", "fit_windows", "minutes",
                                                             "windows_per_class", "guard", "alignment",
                                                             "base_loss", "adapted")}
                scored = scores(rec, fold.bundle.classes, fold.hmm)
                record["minutes_used"] = record.pop("minutes")
                atomic.write_json(path, {"fold": fold.k, "subject": subject, "minutes": n, "rotation": rot,
                                         "config": name, "overrides": overrides, **record,
                                         "seconds": round(time.time() - began, 1), "scores": scored})
                print(f"fold {fold.k} s{subject} n{n:g} {rot} {name}: {scored['none']['accuracy']:.4f} "
                      f"({time.time() - began:.0f} s)", flush=True)


def int8_check(fold: Fold, subject: int, minutes: float, rot: str, cache: Path) -> None:
    """The chosen recipe once more on one subject, written as a bundle, exported int8 as `edgehar
    export` would (calibrated on the base's training data and the new wearer's windows), and
    streamed sample by sample through the live runtime (LiteRT): its live accuracy beside the
    Keras float32 one of the same model."""
    import tempfile

    from edgehar.export.convert import calibration_windows, export_variants, with_new_wearer
    from edgehar.model.finetune import FinetuneConfig, finetune, first_minutes, write_finetuned
    from edgehar.runtime.sources import iter_array
    from edgehar.runtime.stream import Streamer
    from edgehar.runtime.stream import run as run_stream

    path = cache / "int8" / f"s{subject:02d}-n{minutes:g}-{rot}.json"
    if path.exists():
        return
    adapt, test = read_hapt_recordings(fold.hapt, subjects=[subject])
    adapt_r = replace(adapt, raw=rotate(adapt.raw, ROTATIONS[rot]))
    rt = rotate(test.raw, ROTATIONS[rot])
    config = FinetuneConfig(**GRID[CHOSEN])
    windows = recording_windows(first_minutes([adapt_r], SIX, minutes), fold.raw_pipeline, SIX, config.hop,
                                f"{Path(adapt.name).name} first {minutes:g} min, {rot}")
    result = finetune(fold.bundle, windows, config, None, fold.model)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = write_finetuned(Path(tmp) / "tuned", result, windows)
        calibration = with_new_wearer(bundle, calibration_windows(bundle, None), windows)
        export_variants(bundle, calibration, ("int8",))
        bundle = Bundle.load(bundle.path)
        keras_rec = stream(result.model, bundle, rt, test.labels, Path(test.name).name, subject)
        streamer = Streamer.from_bundle(bundle, "int8")
        results = []
        run_stream(streamer, iter_array(rt, RATE), results.append)
        live = StreamedRecording(name=Path(test.name).name, subject=subject,
                                 probs=np.array([r.probs for r in results], dtype=np.float64),
                                 start=np.array([r.start for r in results]),
                                 end=np.array([r.end for r in results]),
                                 sample_labels=test.labels, rate_hz=RATE)
    agree = float((live.probs.argmax(1) == keras_rec.probs.argmax(1)).mean()) \
        if len(live.probs) == len(keras_rec.probs) else None
    entry = {"subject": subject, "minutes": minutes, "rotation": rot,
             "keras_float32": scores(keras_rec, fold.bundle.classes, fold.hmm)["none"]["accuracy"],
             "litert_int8_streamed": scores(live, fold.bundle.classes, fold.hmm)["none"]["accuracy"],
             "windows": len(live.probs), "agreement_int8_vs_float": agree}
    atomic.write_json(path, entry)
    print(json.dumps(entry), flush=True)


def load_cache(cache: Path) -> tuple[dict, list[dict]]:
    """Before-scores by (subject, rotation) and every fine-tune's entry."""
    before = {}
    for path in sorted((cache / "before").glob("*.json")):
        entry = json.loads(path.read_text())
        before[(entry["subject"], entry["rotation"])] = entry
    runs = []
    for path in sorted(cache.glob("*-*/s*-n*.json")):
        entry = json.loads(path.read_text())
        entry.setdefault("minutes_used", entry["minutes"])  # early entries: the minutes used only
        entry["minutes"] = float(path.stem.split("-")[1][1:])
        runs.append(entry)
    return before, runs


def summarise(before: dict, runs: list[dict], config: str, spec: str = "none") -> dict:
    """Per rotation and minutes: each subject's before/after accuracy and macro-F1, the means, the
    worst change and (rotated) the share of the rotation's loss recovered."""
    out = {}
    for entry in sorted((r for r in runs if r["config"] == config),
                        key=lambda r: (r["rotation"], r["minutes"], r["subject"])):
        s, rot = entry["subject"], entry["rotation"]
        row = {"subject": s, "fold": entry["fold"], "minutes_used": entry["minutes_used"],
               "before_accuracy": before[(s, rot)]["scores"][spec]["accuracy"],
               "before_macro_f1": before[(s, rot)]["scores"][spec]["macro_f1"],
               "after_accuracy": entry["scores"][spec]["accuracy"],
               "after_macro_f1": entry["scores"][spec]["macro_f1"]}
        if entry.get("guard"):
            row["kept"] = entry["guard"]["kept"]
        if rot != "none":
            row["unrotated_before_accuracy"] = before[(s, "none")]["scores"][spec]["accuracy"]
        out.setdefault(rot, {}).setdefault(f"{entry['minutes']:g}", {"subjects": []})["subjects"].append(row)
    for rot, by_n in out.items():
        for cell in by_n.values():
            rows = cell["subjects"]
            mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]
                    if k.endswith(("accuracy", "macro_f1"))}
            deltas = [r["after_accuracy"] - r["before_accuracy"] for r in rows]
            cell["mean"] = mean
            cell["n_subjects"] = len(rows)
            cell["mean_change_points"] = 100 * float(np.mean(deltas))
            cell["worst_change_points"] = 100 * float(np.min(deltas))
            cell["subjects_losing_over_half_point"] = [r["subject"] for r, d in zip(rows, deltas, strict=True)
                                                       if d < -0.005]
            if rot != "none":
                lost = mean["unrotated_before_accuracy"] - mean["before_accuracy"]
                gained = mean["after_accuracy"] - mean["before_accuracy"]
                cell["recovery"] = gained / lost if lost > 0 else None
    return out


CHOSEN = "align-all-lwf"
"""The recipe chosen on GRID_FOLDS (see CHOICE) and run on every fold."""
CHOICE = ("chosen on folds 0-1 (6 subjects), 2 minutes, rotations none and z90, smoothing none, before "
          "the other folds were run: the largest mean unrotated gain among the configs with >= 90% "
          "rotation recovery (align-all-lwf +0.43 points, recovery 99%; align25-head-lwf +0.27; "
          "align25-all-lwf3-lr1e-4 +0.18; align +0.14; align-all-lwf-guard -0.01; align-all -4.47). None "
          "kept every one of the 6 subjects within 0.5 point; without alignment (all-lwf) almost nothing "
          "of a rotation is recovered (2%). The one-subject screen before it (head, bn, all, all-l2, "
          "rehearsal, hop 64, no augmentation, top:2, lr 1e-3) and the post-hoc variants (gated-*, "
          "keep-or-*: defined after the full run, so not a held-out choice) are under 'tried'.")
POST_HOC = ("gated-align-all-lwf", "keep-or-align-all-lwf")
"""Variants defined after the chosen recipe's full run (so not a held-out choice)."""
TARGETS = {"gain_points_2min": 2.0, "worst_loss_points_2min": -0.5, "recovery_2min": 0.9}


def _targets(cells: dict) -> dict:
    """Each issue target at 2 minutes, measured (smoothing none) and whether it is met."""
    out = {}
    none = cells.get("none", {}).get("2")
    if none:
        out["mean_gain_points"] = {"target": ">= 2", "measured": round(none["mean_change_points"], 2),
                                   "met": none["mean_change_points"] >= TARGETS["gain_points_2min"]}
        worst = none["worst_change_points"]
        out["worst_subject_points"] = {"target": ">= -0.5", "measured": round(worst, 2),
                                       "met": worst >= TARGETS["worst_loss_points_2min"]}
    for rot, by_n in cells.items():
        if rot != "none" and "2" in by_n and by_n["2"].get("recovery") is not None:
            rec = by_n["2"]["recovery"]
            out[f"recovery_{rot}"] = {"target": ">= 0.9", "measured": round(rec, 3),
                                      "met": rec >= TARGETS["recovery_2min"]}
    return out


def _brief(cells: dict) -> dict:
    """Means only, for the configs tried."""
    return {rot: {n: {"subjects": c["n_subjects"], "before": round(c["mean"]["before_accuracy"], 4),
                      "after": round(c["mean"]["after_accuracy"], 4),
                      "mean_change_points": round(c["mean_change_points"], 2),
                      "worst_change_points": round(c["worst_change_points"], 2),
                      **({"recovery": round(c["recovery"], 3)} if c.get("recovery") is not None else {})}
                  for n, c in by_n.items()} for rot, by_n in cells.items()}


def readme_table(report: dict) -> str:
    """The README's personalisation table (smoothing none; hmm:1 after the slash)."""
    lines = ["| mounting | minutes (used, mean) | subjects | before | after | change, points "
             "| worst subject, points | losing > 0.5 | recovered |", "|---|---|---|---|---|---|---|---|---|"]
    plain, hmm = report["results"]["none"], report["results"]["hmm:1"]

    def pair(a: dict, b: dict, key: str) -> str:
        return f"{100 * a['mean'][key]:.2f}% / {100 * b['mean'][key]:.2f}%"

    for rot in ROTATIONS:
        for n, cell in sorted(plain.get(rot, {}).items(), key=lambda kv: float(kv[0])):
            other = hmm[rot][n]
            used = np.mean([r["minutes_used"] for r in cell["subjects"]])
            recovered = "–" if cell.get("recovery") is None else \
                f"{100 * cell['recovery']:.0f}% / {100 * other['recovery']:.0f}%"
            lines.append(
                f"| {rot} | {n} ({used:.2f}) | {cell['n_subjects']} | {pair(cell, other, 'before_accuracy')} "
                f"| {pair(cell, other, 'after_accuracy')} | {cell['mean_change_points']:+.2f} / "
                f"{other['mean_change_points']:+.2f} | {cell['worst_change_points']:+.2f} / "
                f"{other['worst_change_points']:+.2f} | {len(cell['subjects_losing_over_half_point'])} / "
                f"{len(other['subjects_losing_over_half_point'])} | {recovered} |")
    return "\n".join(lines)


def write_report(cache: Path, out: Path, every: list[list[int]], recipe: str) -> None:
    """models/personalise-results.json from the cache: the chosen recipe on every subject done,
    its targets, and every config tried with its means."""
    from edgehar.model.finetune import FinetuneConfig

    before, runs = load_cache(cache)
    chosen = {spec: summarise(before, runs, CHOSEN, spec) for spec in ("none", "hmm:1")}
    done = sorted({r["subject"] for r in runs if r["config"] == CHOSEN})
    int8 = [json.loads(p.read_text()) for p in sorted((cache / "int8").glob("*.json"))]
    int8_base = [json.loads(p.read_text()) for p in sorted((cache / "int8_base_calibration").glob("*.json"))]
    report = {
        "about": "Personalisation and mounting change (issue 12 b, c): tools/personalise_results.py. "
                 "Base models: the live benchmark's folds of recipe " + recipe + " (each subject adapted on "
                 "the fold model that never saw them). Adaptation: the first N minutes of labelled activity "
                 "in the subject's first experiment; test: their second experiment, streamed whole (Keras "
                 "float32 window probabilities exactly as the stream cuts them; equal to LiteRT float32 "
                 "streaming within 1e-6). Accuracy and macro-F1 over windows inside one activity.",
        "protocol": {"folds": every, "minutes": "1, 2, 5; a first experiment holds 3.4-5.0 labelled minutes, "
                     "so N=5 uses all of it (minutes_used per subject)",
                     "test": "the subject's second experiment, the same for every N and rotation",
                     "smoothing": "none (primary: the fold bundles carry no decoder) and hmm:1 (the fold's "
                                  "decoder estimated from its training subjects, as live_results does)",
                     "rotations": {k: np.round(v, 4).tolist() for k, v in ROTATIONS.items()},
                     "rotation_note": "v' = R v for acc and gyro; z90: a quarter turn about the screen "
                                      "normal; wrist: Ry(30) Rx(40) Rz(180)",
                     "recovery": "(after - rotated before) / (unrotated before - rotated before), on means"},
        "recipe": {"name": CHOSEN, "config": asdict(FinetuneConfig(**GRID[CHOSEN])), "choice": CHOICE},
        "subjects_done": done, "complete": len(done) == sum(len(f) for f in every),
        "targets_2min": _targets(chosen["none"]),
        "results": chosen,
        "targets_2min_post_hoc": {name: _targets(summarise(before, runs, name, "none")) for name in POST_HOC
                                  if any(r["config"] == name for r in runs)},
        "int8_litert_check": int8,
        "int8_litert_check_base_calibration": int8_base,
        "tried_note": "mean over the subjects each config was run on (subjects); 1-2 subjects: the "
                      "first screen on fold 0; 6: folds 0-1; 21: all. gated-align-all-lwf and "
                      "keep-or-align-all-lwf were defined after the chosen recipe's full run.",
        "tried": {name: _brief(summarise(before, runs, name, "none"))
                  for name in GRID if any(r["config"] == name for r in runs)},
        "tried_configs": GRID,
    }
    atomic.write_json(out, report)
    print(f"wrote {out}")
    from readme_tables import replace_section

    readme = Path(__file__).resolve().parent.parent / "README.md"
    readme.write_text(replace_section(readme.read_text(), "personalise-table", readme_table(report)))
    print(f"updated {readme} (personalise-table)")


def main(
    hapt: Path = typer.Option(Path("../shared/data/hapt-raw/RawData"), help="HAPT RawData folder."),
    work: Path = typer.Option(Path("/tmp/edgehar-live"), help="live_results' cache of folds."),
    recipe: str = typer.Option("pi-hapt", help="The live benchmark recipe whose folds are the base models."),
    cache: Path = typer.Option(Path("/tmp/edgehar-personalise"), help="Cache of every fine-tune's scores."),
    stage: str = typer.Option("grid", help="grid (recipe search), final (the chosen recipe) or report."),
    folds_only: str = typer.Option("", help="Only these folds (comma-separated)."),
    configs: str = typer.Option("", help="Only these configs (comma-separated)."),
    minutes: str = typer.Option("", help="Adaptation minutes (comma-separated)."),
    rotations: str = typer.Option("", help="Rotations (comma-separated)."),
    out: Path = typer.Option(None, help="Default: models/personalise-results.json."),
):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    every = folds(hapt)
    subjects = sorted(s for held in every for s in held)
    if stage == "report":
        write_report(cache, out or models_dir() / "personalise-results.json", every, recipe)
        return
    chosen = {k: v for k, v in GRID.items() if not configs or k in configs.split(",")}
    grid = stage == "grid"
    wanted = [int(f) for f in folds_only.split(",") if f] or (GRID_FOLDS if grid else range(len(every)))
    mins = [float(m) for m in minutes.split(",") if m] or ([1, 2] if stage == "grid" else [1, 2, 5])
    rots = [r for r in rotations.split(",") if r] or (["none", "z90"] if stage == "grid" else list(ROTATIONS))
    if stage == "final":
        chosen = {CHOSEN: GRID[CHOSEN]}
    for k in wanted:
        fold = Fold(k, every[k], subjects, recipe, work, hapt)
        for subject in every[k]:
            if stage == "int8":
                for rot in rots:
                    int8_check(fold, subject, mins[0], rot, cache)
            else:
                run(fold, subject, chosen, mins, rots, cache)


if __name__ == "__main__":
    typer.run(main)
