"""Train a model over several seeds, export each to int8 and measure it; keep the seed that
held-out training subjects pick.

Every choice is made on the training subjects: the same held-out training subjects
(``--val-subjects``, drawn once by ``--val-seed``) drive early stopping and pick the seed
with the best validation accuracy; the test split gives the final numbers only. For each
seed: Keras float, int8 under LiteRT and int8 under TFLM, accuracy and macro-F1 on all test
windows. The kept bundle is written to ``models/<name>/``, the seed statistics to
``models/<name>/seeds.json``. Then ``tools/ship_model.sh`` exports, validates and
benchmarks it. ``--hapt`` trains on windows cut from the training subjects' raw recordings
(what the live stream sees) instead of the UCI HAR windows; with ``--transitions``, on all 12
HAPT classes (the postural transitions too; scored on the test split as their destination);
with ``--with-uci``, on those and the same subjects' published UCI HAR training windows (the
``*-mix`` recipes of the live benchmark; a subject's windows of both kinds share its validation group).

    python tools/compact_results.py --name dscnn --family dscnn --seeds 5 [--per-tensor] [--hapt DIR]
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import typer

from edgehar import atomic
from edgehar.bundle import models_dir
from edgehar.data.locate import resolve_data
from edgehar.data.recordings import concat_windows, hapt_windows
from edgehar.data.uci import load_split
from edgehar.export.convert import export_variants
from edgehar.export.report import validate
from edgehar.model.train import TrainConfig, fit, write_bundle
from edgehar.preprocess.pipeline import Pipeline
from edgehar.preprocess.prepare import channel_windows

METRICS = {"float": ("keras",), "int8_litert": ("variants", "int8"),
           "int8_tflm": ("variants", "int8", "tflm")}


def _pick(report: dict, path: tuple) -> dict:
    for key in path:
        report = report[key]
    return report


def seed_run(config: TrainConfig, train, test, out: Path, per_channel: bool = True) -> dict:
    result = fit(config, train, test)
    bundle = write_bundle(out, result, train, out.name, force=True)
    export_variants(bundle, train, ("float32", "int8"), per_channel)
    report = validate(bundle.reload(), test, ("float32", "int8"))
    row = {"seed": config.seed, "epochs_run": len(result.history["loss"]),
           "best_val_accuracy": max(result.history.get("val_accuracy", [float("nan")]))}
    for name, path in METRICS.items():
        scores = _pick(report, path)
        row[name] = {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}
    row["int8_bytes"] = report["variants"]["int8"]["bytes"]
    row["arena_bytes"] = report["variants"]["int8"]["tflm"]["arena_bytes"]
    return row


def summarize(rows: list[dict]) -> dict:
    out = {}
    for name in METRICS:
        for metric in ("accuracy", "macro_f1"):
            values = np.array([r[name][metric] for r in rows])
            out[f"{name}_{metric}"] = {"mean": float(values.mean()), "std": float(values.std())}
    return out


def main(
    name: str = typer.Option(..., help="Bundle name under models/."),
    family: str = typer.Option("dscnn"),
    params: str = typer.Option("{}", help="JSON of the family's parameters."),
    pipeline: str = typer.Option(None),
    epochs: int = typer.Option(None),
    seeds: int = typer.Option(5),
    val_subjects: int = typer.Option(4),
    val_seed: int = typer.Option(0, help="Draws the held-out training subjects, the same for every seed."),
    max_rotation: float = typer.Option(15.0, help="Rotation augmentation bound (degrees)."),
    hapt: Path = typer.Option(None, help="Train on windows cut from this HAPT RawData folder."),
    transitions: bool = typer.Option(False, help="With --hapt: the 6 postural transitions are classes too."),
    with_uci: bool = typer.Option(False, help="With --hapt: the UCI HAR training windows too."),
    min_epochs: int = typer.Option(0, help="Epochs before early stopping may stop."),
    patience: int = typer.Option(25, help="Epochs without a better validation accuracy before stopping."),
    per_tensor: bool = typer.Option(False, help="int8 with one scale per weight tensor (smaller file)."),
    data: Path = typer.Option(None, envvar="EDGEHAR_DATA"),
):
    source = resolve_data(data)
    train, test = load_split(source, "train"), load_split(source, "test")
    family_params = json.loads(params)
    if hapt:
        resolved = TrainConfig(family, family_params, pipeline=pipeline).resolved().pipeline
        recorded = hapt_windows(hapt, Pipeline.preset(resolved), transitions=transitions)
        train = (replace(concat_windows([recorded, channel_windows(train, Pipeline.preset(resolved))]),
                         source=f"{recorded.source} + {train.source}") if with_uci else recorded)
    shipped = models_dir() / name
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for seed in range(1, seeds + 1):
            config = TrainConfig(family, family_params, epochs=epochs, seed=seed, pipeline=pipeline,
                                 val_subjects=val_subjects, val_seed=val_seed, min_epochs=min_epochs,
                                 patience=patience, max_rotation=max_rotation)
            rows.append(seed_run(config, train, test, Path(work) / f"seed{seed}", per_channel=not per_tensor))
            print(json.dumps(rows[-1]), flush=True)
        kept = max(rows, key=lambda r: r["best_val_accuracy"])["seed"]
        with atomic.folder(shipped) as tmp:
            shutil.copytree(Path(work) / f"seed{kept}", tmp, dirs_exist_ok=True)
            atomic.write_json(tmp / "metadata.json", {**json.loads((tmp / "metadata.json").read_text()),
                                                      "name": name})

    results = {"name": name, "family": family, "params": family_params, "pipeline": pipeline,
               "epochs": epochs, "val_subjects": val_subjects, "val_seed": val_seed,
               "train_data": train.source, "transitions": transitions, "with_uci": with_uci,
               "max_rotation": max_rotation,
               "min_epochs": min_epochs, "patience": patience, "per_tensor": per_tensor,
               "kept_seed": kept, "seeds": rows,
               "summary": summarize(rows)}
    atomic.write_json(shipped / "seeds.json", results)
    print(json.dumps(results["summary"], indent=2))


if __name__ == "__main__":
    typer.run(main)
