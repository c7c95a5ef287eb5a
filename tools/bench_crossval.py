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
start-up, scoring, the plot). Then the machine's own bound, without Ray: the same 6 folds split into two
plain processes started together (folds 0, 2, 4 and 1, 3, 5, one thread each, their own empty caches),
timed until both finish; its ratio to one worker is the best any scheduler of these one-thread tasks
could reach here, and its tasks' seconds against the same tasks one after another (``--threads 1``) are
the side-by-side slowdown of the machine's two CPUs. Before and after the runs it measures how many
cores this session gets with one and with two busy processes: Linux's autogroup scheduler shares the
CPU between sessions, not processes, so on a machine busy with other sessions a second process may add
little.

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
from multiprocessing.connection import wait
from pathlib import Path

import typer

from edgehar import atomic
from edgehar.bundle import models_dir

PARAMS = {"filters": [16, 32], "kernel": 5}
RECIPE = ["--model", "dscnn", "--params", json.dumps(PARAMS)]
HALVES = ([0, 2, 4], [1, 3, 5])
"""The folds each plain process runs: alternate ones, as Ray's two workers roughly take them."""


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
            **_breakdown(_runs(report), seconds), "per_fold": _per_fold(report)}


def _runs(report: dict) -> list[dict]:
    (entry,) = report["results"].values()
    return entry["runs"]


def _breakdown(runs: list[dict], seconds: float) -> dict:
    """Where a run's time went: each task phase summed over the tasks ``runs``, the seconds of tasks per
    worker process, the wall time outside the busiest process's tasks, and the tasks' niceness."""
    phases: dict[str, float] = {}
    per_process: dict[str, float] = {}
    for run in runs:
        for phase, s in run["seconds"].items():
            phases[phase] = round(phases.get(phase, 0.0) + s, 1)
        per_process[str(run["process"])] = round(per_process.get(str(run["process"]), 0.0)
                                                 + sum(run["seconds"].values()), 1)
    return {"task_phases_seconds": phases, "task_seconds_per_process": per_process,
            "outside_tasks_seconds": round(seconds - max(per_process.values()), 1),
            "task_niceness": sorted({run["nice"] for run in runs}),
            "epochs_run": [run["epochs_run"] for run in runs]}


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


def _per_fold(report: dict) -> dict:
    """Per fold, its live accuracy with each variant and smoothing."""
    (entry,) = report["results"].values()
    return {str(run["fold"]): [s["per_run"][i]["accuracy"] for v in entry["variants"].values()
                               for s in v.values()] for i, run in enumerate(entry["runs"])}


def _half(folder: Path, work: Path, epochs: int, name: str, folds: list[int]) -> None:
    """One plain process (no Ray): ``folds`` of the 6-fold crossval, as `edgehar crossval --workers 1
    --threads 1` runs them (the same recipe: the same cache keys)."""
    from edgehar.data.recordings import ClassMap, read_recordings
    from edgehar.scoring import crossval as cv

    found = read_recordings(folder)
    cv.crossval(folder, found, ClassMap.of(found), [cv.Recipe("dscnn", PARAMS, epochs=epochs)], folds=6,
                threads=1, only_folds=folds, cache=work / f"cache-{name}", out=work / f"{name}.json",
                log=lambda line: None)


def _plain_processes(folder: Path, work: Path, epochs: int) -> dict:
    """The 6 folds split into two plain processes (HALVES, one thread each) started together: no Ray and
    nothing shared, so the wall time until both finish is the best any scheduler of these one-thread
    tasks could do here."""
    spawn = multiprocessing.get_context("spawn")
    names = [f"half_{i}" for i in range(len(HALVES))]
    processes = [spawn.Process(target=_half, args=(folder, work, epochs, name, folds))
                 for name, folds in zip(names, HALVES, strict=True)]
    load = os.getloadavg()[0]
    began = time.perf_counter()
    for p in processes:
        p.start()
    ended: dict[int, float] = {}
    while len(ended) < len(processes):
        for sentinel in wait([p.sentinel for p in processes if p.sentinel not in ended]):
            ended[sentinel] = round(time.perf_counter() - began, 1)
    for p in processes:
        p.join()
    if any(p.exitcode for p in processes):
        raise RuntimeError(f"a plain crossval process failed: exit codes {[p.exitcode for p in processes]}")
    seconds = max(ended.values())
    reports = [json.loads((work / f"{name}.json").read_text()) for name in names]
    return {"folds": [list(f) for f in HALVES], "seconds": seconds,
            "seconds_per_process": [ended[p.sentinel] for p in processes],
            "load_average_1min_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
            **_breakdown([run for r in reports for run in _runs(r)], seconds),
            "per_fold": {fold: a for r in reports for fold, a in _per_fold(r).items()}}


def _slowdown(side_by_side: dict, alone: dict) -> dict:
    """How much longer the same tasks took, summed, in two processes side by side than one after another:
    the training phase, the export, and every phase but the imports (which two processes pay twice)."""
    def total(run: dict, phase: str) -> float:
        phases = run["task_phases_seconds"]
        if phase == "all_but_imports":
            return sum(s for p, s in phases.items() if p != "imports")
        return phases[phase]
    return {phase: round(total(side_by_side, phase) / total(alone, phase) - 1, 3)
            for phase in ("train", "export", "all_but_imports")}


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
                "workers_1_threads_1": run("workers_1_threads_1", "--workers", "1", "--threads", "1"),
                "two_plain_processes": _plain_processes(work / "own", work, epochs)}
    cores["after"] = _cores()
    seconds = {name: r["seconds"] for name, r in runs.items()}
    result = {"about": "edgehar crossval, 6 folds (6 HAPT subjects, one experiment each), the same recipe "
                       "with --workers 2 (Ray local workers, 1 thread each) and --workers 1 (in-process; "
                       "default threads, and 1 thread), and split into two plain processes side by side (no "
                       "Ray, 3 folds and 1 thread each: the machine's own bound), empty caches "
                       "(tools/bench_crossval.py)",
              "recipe": " ".join([*RECIPE, "--epochs", str(epochs)]), "experiments": experiments,
              "cpus": os.cpu_count(), "cores_this_session_gets": cores,
              "machine": platform.machine(), "seconds": seconds,
              "ratio": round(seconds["workers_2"] / seconds["workers_1"], 3),
              "ratio_vs_one_thread": round(seconds["workers_2"] / seconds["workers_1_threads_1"], 3),
              "target_ratio": 0.6,
              "identical_per_fold_results_at_one_thread":
                  runs["workers_2"]["per_fold"] == runs["workers_1_threads_1"]["per_fold"],
              "ratio_two_plain_processes": round(seconds["two_plain_processes"] / seconds["workers_1"], 3),
              "ratio_two_plain_processes_vs_one_thread":
                  round(seconds["two_plain_processes"] / seconds["workers_1_threads_1"], 3),
              "ray_over_two_plain_processes": round(seconds["workers_2"] / seconds["two_plain_processes"], 3),
              "side_by_side_slowdown": _slowdown(runs["two_plain_processes"], runs["workers_1_threads_1"]),
              "identical_per_fold_results_two_plain_processes":
                  runs["two_plain_processes"]["per_fold"] == runs["workers_1_threads_1"]["per_fold"],
              "runs": runs}
    atomic.write_json(out or models_dir() / "crossval-bench.json", result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    typer.run(main)
