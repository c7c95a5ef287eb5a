"""Causal-preprocessing audit: what does computing the channels live, causally, cost?

UCI HAR's ``body_acc`` channels were made offline (a zero-phase filter over whole
recordings); a device must make them causally. For each preprocessing pipeline this trains
the same model recipe, exports it to float32 and measures:

- offline accuracy on the published test windows (what papers report),
- streaming accuracy on the stitched test segments fed sample by sample (what a device gets),
- streaming accuracy on the real continuous HAPT recordings, with and without smoothing.

Writes ``models/causal-audit.json`` and prints the README table.

    python tools/causal_audit.py --data ../shared/data/uci-har --hapt ../shared/data/hapt-raw/RawData
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import typer

from edgehar import atomic
from edgehar.bundle import models_dir
from edgehar.data.locate import resolve_data
from edgehar.data.uci import load_split
from edgehar.export.convert import export_variants
from edgehar.model.train import TrainConfig, fit, write_bundle
from edgehar.preprocess.pipeline import PRESETS, Pipeline
from edgehar.scoring.validate import validate_hapt, validate_test_split


def audit_one(name: str, config: TrainConfig, train, test, hapt: Path, work: Path) -> dict:
    result = fit(config, train, test, progress=False)
    bundle = write_bundle(work / name, result, train, name)
    export_variants(bundle, train, ("float32",))
    bundle = bundle.reload()
    stream = validate_test_split(bundle, test, "float32")
    hapt_report = validate_hapt(bundle, hapt, "float32", smoothers=("none", "vote:5"))
    return {
        "pipeline": bundle.pipeline.to_dict(),
        "offline_published_accuracy": result.test_report["accuracy"],
        "stream_accuracy": stream["accuracy"],
        "stream_offline_agreement": stream["agreement"],
        "hapt_accuracy": hapt_report["smoothing"]["none"]["accuracy"],
        "hapt_accuracy_vote5": hapt_report["smoothing"]["vote:5"]["accuracy"],
        "hapt_flips_per_minute": hapt_report["smoothing"]["none"]["flips_per_minute"],
    }


def markdown(rows: dict) -> str:
    lines = ["| pipeline | channels | published windows (offline) | stitched test, streamed | "
             "HAPT streamed | HAPT + vote:5 |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| `{name}` | {len(r['pipeline']['channels'])} | "
                     f"{r['offline_published_accuracy']:.2%} | {r['stream_accuracy']:.2%} | "
                     f"{r['hapt_accuracy']:.2%} | {r['hapt_accuracy_vote5']:.2%} |")
    return "\n".join(lines)


def main(
    data: Path = typer.Option(None, envvar="EDGEHAR_DATA"),
    hapt: Path = typer.Option(Path("../shared/data/hapt-raw/RawData")),
    family: str = typer.Option("dscnn"),
    epochs: int = typer.Option(None),
    seed: int = typer.Option(1),
    pipelines: str = typer.Option(",".join(PRESETS)),
    out: Path = typer.Option(None),
):
    source = resolve_data(data)
    train, test = load_split(source, "train"), load_split(source, "test")
    out = out or models_dir() / "causal-audit.json"
    rows = {}
    with tempfile.TemporaryDirectory() as work:
        for name in pipelines.split(","):
            Pipeline.preset(name)  # fail early on a bad name
            config = TrainConfig(family, epochs=epochs, seed=seed, val_subjects=4, pipeline=name)
            rows[name] = audit_one(name, config, train, test, hapt, Path(work))
            print(json.dumps({name: rows[name]}), flush=True)
            atomic.write_json(out, {"family": family, "seed": seed, "results": rows})
    print(markdown(rows))


if __name__ == "__main__":
    typer.run(main)
