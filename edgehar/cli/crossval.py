"""`edgehar crossval`: how well will a recipe label people it has never seen, live?"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edgehar import atomic
from edgehar.cli.app import app, print_table
from edgehar.cli.numbers import number
from edgehar.cli.train import parse_params
from edgehar.metadata import MAX_WINDOW
from edgehar.model.recipes import recipe as family_recipe
from edgehar.ranges import SEED
from edgehar.spec import HOP

console = Console()


@app.command()
def crossval(
    recordings: Annotated[Path, typer.Option(
        help="Labelled recordings (as for `edgehar train --recordings`): NAME.csv + NAME.json files, or "
        "a HAPT RawData layout.")],
    classes: Annotated[str | None, typer.Option(
        help="The classes, as for `edgehar train --classes`. Default: every label found.")] = None,
    folds: Annotated[int, number(2, 100_000, integer=True,
        help="Number of folds (people, or sessions, held out together).")] = 5,
    leave_one_out: Annotated[bool, typer.Option(
        "--leave-one-out", help="One fold per person (or session) instead of --folds.")] = False,
    model: Annotated[list[str] | None, typer.Option(
        help="Model family; repeat it to compare several (default: dscnn).")] = None,
    params: Annotated[list[str] | None, typer.Option(
        help="Family parameters as JSON; repeat it to compare several (a grid with --model).")] = None,
    pipeline: Annotated[str | None, typer.Option(help="Preprocessing (family default).")] = None,
    epochs: Annotated[int | None, number(1, 100_000, integer=True, help="Epochs (family default).")] = None,
    min_epochs: Annotated[int, number(0, 100_000, integer=True,
        help="Epochs before early stopping may stop.")] = 0,
    batch_size: Annotated[int | None, number(1, 1 << 20, integer=True,
        help="Batch size (family default).")] = None,
    normalize: Annotated[bool | None, typer.Option(help="Fit per-channel normalization.")] = None,
    augment: Annotated[bool | None, typer.Option(help="IMU augmentation while training.")] = None,
    hop: Annotated[int, number(1, MAX_WINDOW, integer=True, help="Samples between training windows.")] = HOP,
    per_tensor: Annotated[bool, typer.Option(
        "--per-tensor/--per-channel", help="int8 with one scale per weight tensor, or per channel.")] = False,
    seed: Annotated[int, number(*SEED, integer=True,
        help="Seed of the first run; --seeds N runs seed..seed+N-1.")] = 1,
    seeds: Annotated[int, number(1, 1000, integer=True, help="Seeds per recipe and fold.")] = 1,
    smooth: Annotated[list[str] | None, typer.Option(
        help="Smoothings to score, besides none and the folds' bundles' default (hmm:1, their decoder "
        "fitted on each fold's training people); repeatable.")] = None,
    workers: Annotated[int, number(1, 4096, integer=True,
        help="Tasks at once, as local Ray worker processes (needs the cluster extra; without it they run "
        "one after another).")] = 1,
    ray: Annotated[str | None, typer.Option(
        "--ray", envvar="RAY_ADDRESS",
        help="Run the tasks on this Ray cluster (e.g. 10.0.0.5:6379, or auto); default: "
        "$RAY_ADDRESS.")] = None,
    threads: Annotated[int | None, number(1, 4096, integer=True,
        help="Threads (and Ray CPUs) each task takes. Default: this machine's CPUs shared out among "
        "--workers; 1 on a cluster.")] = None,
    out: Annotated[Path, typer.Option(help="The report (JSON); the plot goes beside it (.png).")] = Path(
        "crossval.json"),
    cache: Annotated[Path | None, typer.Option(
        help="Finished tasks, kept so a rerun skips them. Default: the user cache folder.")] = None,
) -> None:
    """Cross-validate training recipes on your recordings, live: train each fold on the other people,
    export int8 and float32, fit the fold's decoder on its training people, stream the held-out people's
    recordings through the live runtime, and report accuracy, macro-F1, recall per class, label changes
    against the wearers' own and detection delay: per fold, per person and mean ± std.

    Folds × seeds × recipes run in parallel as Ray tasks with --workers N or --ray ADDRESS
    (pip install "edgehar[cluster]"); results are cached, so a rerun skips finished folds.
    """
    from edgehar.data.locate import cache_home
    from edgehar.data.recordings import ClassMap, read_recordings
    from edgehar.scoring import crossval as cv

    recipes = [cv.Recipe(family, parse_params(p), pipeline=pipeline, epochs=epochs, min_epochs=min_epochs,
                         batch_size=batch_size, normalize=normalize, augment=augment, hop=hop,
                         per_channel=not per_tensor)
               for family, p in itertools.product(model or ["dscnn"], params or [None])]
    for r in recipes:
        family_recipe(r.family)  # an unknown family is one error line, before any work
    smoothers = list(dict.fromkeys(["none", *(smooth or [])]))
    from edgehar.runtime.smoothing import make_smoother

    for spec in smoothers:
        if not spec.startswith("hmm"):
            make_smoother(spec)  # a bad spec is refused now; hmm specs are checked with the fold's decoder

    found = read_recordings(recordings)
    class_map = ClassMap.parse(classes) if classes else ClassMap.of(found)
    class_map.check(found, str(recordings))
    by, plan = cv.plan_folds(found, class_map, None if leave_one_out else folds)
    data = cv.fingerprint(found)
    per_task = threads or (1 if ray else max(1, (os.cpu_count() or 1) // workers))
    tasks = [cv.Task(r, s, i, tuple(held), str(recordings.resolve()), class_map.spec, per_task)
             for r in recipes for s in range(seed, seed + seeds) for i, held in enumerate(plan)]
    cache = (cache or cache_home() / "crossval").resolve()
    console.print(f"{len(found)} recordings, {len(plan)} folds by {by} "
                  f"({'; '.join(', '.join(f) for f in plan)}), {len(recipes)} recipe(s) × {seeds} seed(s): "
                  f"{len(tasks)} tasks", highlight=False, soft_wrap=True)
    report = {"about": "edgehar crossval: leave-subjects-out live cross-validation; mean ± std over runs "
                       "(folds × seeds)",
              "recordings": str(recordings.resolve()), "data_sha256": data,
              "classes": list(class_map.classes), "class_map": class_map.spec, "by": by,
              "folds": len(plan), "held_out": plan,
              "seeds": list(range(seed, seed + seeds)), "smoothing": smoothers, "results": {}}
    finished: list = []

    def done(task: cv.Task, result: dict | None) -> None:
        folder = cache / task.key(data)
        if result is not None:
            cv.save_task(folder, result)
        meta = json.loads((folder / "meta.json").read_text())
        finished.append((task, meta, cv.score_task(folder, class_map, smoothers)))
        report["results"] = cv.summarise(finished)
        atomic.write_json(out, report)
        int8 = finished[-1][2]["int8"]
        default = list(int8)[-1]
        accuracy = int8[default]["accuracy"]
        console.print(f"[{len(finished)}/{len(tasks)}] {task.recipe.name}, seed {task.seed}, "
                      f"fold {task.fold} ({', '.join(task.held)}): int8 {default} {accuracy:.2%}"
                      + (" (cached)" if result is None else f" ({meta['train_seconds']:.0f} s)"),
                      highlight=False, soft_wrap=True)

    todo = [t for t in tasks if not (cache / t.key(data) / "meta.json").is_file()]
    for task in tasks:
        if task not in todo:
            done(task, None)
    how = cv.execute(todo, cv.run_task, done, workers=workers, address=ray) if todo else "cache"
    report["ran"] = how
    atomic.write_json(out, report)
    console.print(f"ran: {how}", highlight=False)
    print_table(console, _table(report))
    try:
        console.print(f"wrote {out} and {cv.plot(report, out.with_suffix('.png'))}", highlight=False)
    except ModuleNotFoundError:
        console.print(f"wrote {out} (no plot: matplotlib is not installed)", highlight=False)


def _table(report: dict) -> Table:
    table = Table("recipe", "variant", "smoothing", "accuracy", "macro-F1", "changes × true", "delay s",
                  "weakest class", title=f"live, held-out {report['by']}s: mean ± std over runs")
    for name, entry in report["results"].items():
        for variant, by_spec in entry["variants"].items():
            for spec, s in by_spec.items():
                m = s["mean"]
                recalls = {k[len("recall_"):]: v["mean"] for k, v in m.items()
                           if k.startswith("recall_") and v["mean"] is not None}
                weakest = min(recalls, key=recalls.get) if recalls else "-"
                table.add_row(name, variant, spec, _pm(m["accuracy"], 100), _pm(m["macro_f1"], 100),
                              _pm(m["changes_ratio"], 1), _pm(m["delay_s_median"], 1),
                              f"{weakest} {recalls[weakest]:.1%}" if recalls else "-")
    return table


def _pm(score: dict, scale: float) -> str:
    if score["mean"] is None:
        return "-"
    return f"{score['mean'] * scale:.2f} ± {score['std'] * scale:.2f}"
