"""Reproduce the reference notebook's experiments at full scale and commit their output.

Runs N repeats of LSTM-100 (the notebook: 90.77% ± 0.94 over 10), the units sweep and
the CNN, each repeat with its own seed (k = 1..N), and writes ``models/reference-results.json``
plus the trained LSTM-100 bundle (first repeat) to ``models/lstm100/``. ``--experiments``
reruns some of them and keeps the others' committed results.

    python tools/reference_results.py --data ../shared/data/uci-har
    python tools/reference_results.py --experiments lstm200,cnn --sweep-repeats 1
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
"""The notebook's test accuracy (%): mean and, where it gave one, std."""


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


EXPERIMENTS = {
    "lstm100": lambda k: TrainConfig("lstm", {"units": 100}, seed=k),
    "lstm10": lambda k: TrainConfig("lstm", {"units": 10}, seed=k),
    "lstm200": lambda k: TrainConfig("lstm", {"units": 200}, seed=k),
    "cnn": lambda k: TrainConfig("cnn", seed=k),
}


def main(
    data: Path = typer.Option(None, envvar="EDGEHAR_DATA"),
    repeats: int = typer.Option(10, help="Repeats of LSTM-100."),
    sweep_repeats: int = typer.Option(3, help="Repeats of each other configuration."),
    experiments: str = typer.Option(",".join(EXPERIMENTS), help="Which experiments to (re)run."),
    out: Path = typer.Option(None, help="Results JSON (default models/reference-results.json)."),
):
    """Run the experiments; results of experiments not rerun are kept from ``out``."""
    source = resolve_data(data)
    train, test = load_split(source, "train"), load_split(source, "test")
    out = out or models_dir() / "reference-results.json"
    results = {"data": str(source), "experiments": {}}
    if out.is_file():
        results["experiments"] = json.loads(out.read_text())["experiments"]
    for name in experiments.split(","):
        if name not in EXPERIMENTS:
            raise typer.BadParameter(f"unknown experiment {name!r}; choose from {list(EXPERIMENTS)}")
        n = repeats if name == "lstm100" else sweep_repeats
        summary, first = run(EXPERIMENTS[name], n, train, test, name)
        results["experiments"][name] = {**summary, "reference": REFERENCE.get(name)}
        if name == "lstm100":
            write_bundle(models_dir() / "lstm100", first, train, "lstm100", extra={"repeats": summary},
                         force=True)
        atomic.write_json(out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    typer.run(main)
