#!/usr/bin/env python3
"""How much faster does `edgehar crossval` run with two Ray workers than with one?

Writes six HAPT subjects' first experiments as recordings, then runs the same 6-fold crossval
(a small dscnn), each with an empty cache: ``--workers 2`` (two Ray worker processes, one thread
each), ``--workers 1`` (in this process, its default: every CPU's thread) and ``--workers 1
--threads 1``; records the wall times, the ratio of two workers to one, the load average around each
run (the machine is shared), whether two workers give the per-fold results of one at the same thread
count (TensorFlow's results depend on it; same seed, same threads: same weights), and where the time
went: each phase of the tasks (imports, data, train, export, decoder, stream; summed over tasks), the
worker processes that ran them, and the time outside the busiest process's tasks (Python and Ray
start-up, scoring, the plot). Before and after the runs it measures how many cores this session
gets with one and with two busy processes: Linux's autogroup scheduler shares the CPU between
sessions, not processes, so on a machine busy with other sessions a second process may add little.

The default size is one where training dominates, as in real use (the live benchmark trains 30-60
epochs per fold on far more windows): 40 epochs; ``--epochs 10`` gives the older, start-up-bound run.

    python tools/bench_crossval.py [--hapt ../shared/data/hapt-raw/RawData] [--out models/crossval-bench.json]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import typer

from edgehar import atomic
from edgehar.bundle import models_dir

RECIPE = ["--model", "dscnn", "--params", '{"filters": [16, 32], "kernel": 5}']


def _run(folder: Path, work: Path, epochs: int, name: str, *options: str) -> dict:
    out = work / f"{name}.json"
    load = os.getloadavg()[0]
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "edgehar", "crossval", "--recordings", str(folder), "--folds", "6",
                    *RECIPE, "--epochs", str(epochs), *options, "--out", str(out),
                    "--cache", str(work / f"cache-{name}")],
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - began
    report = json.loads(out.read_text())
    return {"options": " ".join(options), "seconds": round(seconds, 1), "ran": report["ran"],
            "load_average_1min_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
            **_breakdown(report, seconds), "per_fold": _per_fold(report)}


def _breakdown(report: dict, seconds: float) -> dict:
    """Where a run's time went: each task phase summed over the tasks, the seconds of tasks per worker
    process, the wall time outside the busiest process's tasks, and the tasks' niceness."""
    (entry,) = report["results"].values()
    phases: dict[str, float] = {}
    per_process: dict[str, float] = {}
    for run in entry["runs"]:
        for phase, s in run["seconds"].items():
            phases[phase] = round(phases.get(phase, 0.0) + s, 1)
        per_process[str(run["process"])] = round(per_process.get(str(run["process"]), 0.0)
                                                 + sum(run["seconds"].values()), 1)
    return {"task_phases_seconds": phases, "task_seconds_per_process": per_process,
            "outside_tasks_seconds": round(seconds - max(per_process.values()), 1),
            "task_niceness": sorted({run["nice"] for run in entry["runs"]}),
            "epochs_run": [run["epochs_run"] for run in entry["runs"]]}


def _busy(seconds: float, cpu) -> None:
    began, start = time.perf_counter(), time.process_time()
    while time.perf_counter() - began < seconds:
        pass
    with cpu.get_lock():
        cpu.value += time.process_time() - start


def cores_obtained(processes: int, seconds: float = 4.0) -> float:
    """Cores that ``processes`` busy processes of this session get, on average over ``seconds``."""
    cpu = multiprocessing.Value("d", 0.0)
    busy = [multiprocessing.Process(target=_busy, args=(seconds, cpu)) for _ in range(processes)]
    for p in busy:
        p.start()
    for p in busy:
        p.join()
    return round(cpu.value / seconds, 2)


def _cores() -> dict:
    return {"one_process": cores_obtained(1), "two_processes": cores_obtained(2),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def _per_fold(report: dict) -> list:
    (entry,) = report["results"].values()
    return [r["accuracy"] for v in entry["variants"].values() for s in v.values() for r in s["per_run"]]


def main(hapt: Path = typer.Option(Path("../shared/data/hapt-raw/RawData"), help="HAPT RawData folder."),
         epochs: int = typer.Option(40, help="Epochs per fold (longer tasks: less of Ray's start-up share)."),
         out: Path = typer.Option(None, help="Default: models/crossval-bench.json.")):
    from edgehar.data.recordings import read_hapt_labels, read_hapt_recordings, write_recording

    labels = read_hapt_labels(hapt / "labels.txt")
    first = {}
    for s in labels:
        first.setdefault(s.subject, s.experiment)
    experiments = [first[u] for u in sorted(first)[:6]]
    cores = {"before": _cores()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for rec in read_hapt_recordings(hapt, experiments=experiments):
            write_recording(rec, work / "own" / f"user{rec.subject}" / f"exp{rec.session}.csv")
        run = partial(_run, work / "own", work, epochs)
        runs = {"workers_2": run("workers_2", "--workers", "2"),
                "workers_1": run("workers_1", "--workers", "1"),
                "workers_1_threads_1": run("workers_1_threads_1", "--workers", "1", "--threads", "1")}
    cores["after"] = _cores()
    seconds = {name: r["seconds"] for name, r in runs.items()}
    result = {"about": "edgehar crossval, 6 folds (6 HAPT subjects, one experiment each), the same recipe "
                       "with --workers 2 (Ray local workers, 1 thread each) and --workers 1 (in-process; "
                       "default threads, and 1 thread), empty caches (tools/bench_crossval.py)",
              "recipe": " ".join([*RECIPE, "--epochs", str(epochs)]), "experiments": experiments,
              "cpus": os.cpu_count(), "cores_this_session_gets": cores,
              "machine": platform.machine(), "seconds": seconds,
              "ratio": round(seconds["workers_2"] / seconds["workers_1"], 3),
              "ratio_vs_one_thread": round(seconds["workers_2"] / seconds["workers_1_threads_1"], 3),
              "target_ratio": 0.6,
              "identical_per_fold_results_at_one_thread":
                  runs["workers_2"]["per_fold"] == runs["workers_1_threads_1"]["per_fold"],
              "runs": runs}
    atomic.write_json(out or models_dir() / "crossval-bench.json", result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    typer.run(main)
