#!/usr/bin/env python3
"""How much faster does `edgehar crossval` run with two Ray workers than with one?

Writes six HAPT subjects' first experiments as recordings, then runs the same 6-fold crossval
(a small dscnn, a few epochs) with ``--workers 1`` and ``--workers 2``, each with an empty cache,
and records both wall times, their ratio and whether the per-fold results are identical.

    python tools/bench_crossval.py [--hapt ../shared/data/hapt-raw/RawData] [--out models/crossval-bench.json]
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from edgehar import atomic
from edgehar.bundle import models_dir

RECIPE = ["--model", "dscnn", "--params", '{"filters": [16, 32], "kernel": 5}', "--epochs", "3"]


def _run(folder: Path, work: Path, workers: int) -> tuple[float, dict]:
    out = work / f"workers{workers}.json"
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "edgehar", "crossval", "--recordings", str(folder), "--folds", "6",
                    *RECIPE, "--workers", str(workers), "--out", str(out),
                    "--cache", str(work / f"cache{workers}")], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began, json.loads(out.read_text())


def _per_fold(report: dict) -> list:
    (entry,) = report["results"].values()
    return [r["accuracy"] for v in entry["variants"].values() for s in v.values() for r in s["per_run"]]


def main(hapt: Path = typer.Option(Path("../shared/data/hapt-raw/RawData"), help="HAPT RawData folder."),
         out: Path = typer.Option(None, help="Default: models/crossval-bench.json.")):
    from edgehar.data.recordings import read_hapt_labels, read_hapt_recordings, write_recording

    labels = read_hapt_labels(hapt / "labels.txt")
    first = {}
    for s in labels:
        first.setdefault(s.subject, s.experiment)
    experiments = [first[u] for u in sorted(first)[:6]]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for rec in read_hapt_recordings(hapt, experiments=experiments):
            write_recording(rec, work / "own" / f"user{rec.subject}" / f"exp{rec.session}.csv")
        one, report1 = _run(work / "own", work, 1)
        two, report2 = _run(work / "own", work, 2)
    result = {"about": "edgehar crossval, 6 folds (6 HAPT subjects, one experiment each), the same recipe "
                       "with --workers 1 and --workers 2 (Ray local workers), empty caches "
                       "(tools/bench_crossval.py)",
              "recipe": " ".join(RECIPE), "experiments": experiments, "cpus": os.cpu_count(),
              "machine": platform.machine(), "seconds_workers_1": round(one, 1),
              "seconds_workers_2": round(two, 1),
              "ratio": round(two / one, 3), "target_ratio": 0.6,
              "identical_per_fold_results": _per_fold(report1) == _per_fold(report2)}
    atomic.write_json(out or models_dir() / "crossval-bench.json", result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    typer.run(main)
