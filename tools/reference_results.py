"""Reproduce the reference notebook's experiments at full scale and commit their output.

Runs N repeats of LSTM-100 (the notebook: 90.77% ± 0.94 over 10), the units sweep and
the CNN, each repeat with its own seed, and writes ``models/reference-results.json``
plus the trained LSTM-100 bundle (first repeat) to ``models/lstm100/``.

    python tools/reference_results.py --data ../shared/data/uci-har
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from edgehar import atomic
from edgehar.bundle import models_dir
from edgehar.data.locate import resolve_data
from edgehar.data.uci import load_split
from edgehar.model.train import TrainConfig, fit, repeat_summary, write_bundle

REFERENCE = {"lstm100": (90.77, 0.94), "lstm10": (87.0, None), "lstm200": (90.7, None)}


def run(config_for_seed, repeats: int, train, test, label: str):
    accuracies, first, seconds = [], None, []
    for k in range(1, repeats + 1):
        t0 = time.time()
        result = fit(config_for_seed(k), train, test)
        seconds.append(time.time() - t0)
        accuracies.append(result.test_report["accuracy"])
        print(f"{label} >#{k}: {accuracies[-1] * 100:.3f}", flush=True)
        first = first or result
    summary = repeat_summary(accuracies)
    print(f"{label} Accuracy: {summary['mean']:.3f}% (+/-{summary['std']:.3f})", flush=True)
    return {**summary, "repeats": repeats, "seconds_per_run": sum(seconds) / len(seconds)}, first


def main(
    data: Path = typer.Option(None, envvar="EDGEHAR_DATA"),
    repeats: int = typer.Option(10, help="Repeats of LSTM-100."),
    sweep_repeats: int = typer.Option(3, help="Repeats of each other configuration."),
    out: Path = typer.Option(None, help="Results JSON (default models/reference-results.json)."),
):
    source = resolve_data(data)
    train, test = load_split(source, "train"), load_split(source, "test")
    results = {"data": str(source), "experiments": {}}
    out = out or models_dir() / "reference-results.json"

    def save():
        atomic.write_json(out, results)

    lstm100, first = run(lambda k: TrainConfig("lstm", {"units": 100}, seed=k), repeats, train, test,
                         "lstm100")
    results["experiments"]["lstm100"] = {**lstm100, "reference": REFERENCE["lstm100"]}
    write_bundle(models_dir() / "lstm100", first, train, "lstm100", extra={"repeats": lstm100})
    save()
    for units in (10, 200):
        name = f"lstm{units}"
        summary, _ = run(lambda k, u=units: TrainConfig("lstm", {"units": u}, seed=k), sweep_repeats,
                         train, test, name)
        results["experiments"][name] = {**summary, "reference": REFERENCE[name]}
        save()
    summary, _ = run(lambda k: TrainConfig("cnn", seed=k), sweep_repeats, train, test, "cnn")
    results["experiments"]["cnn"] = summary
    save()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    typer.run(main)
