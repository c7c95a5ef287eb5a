"""`edgehar crossval`: how well will a recipe label people it has never seen, live?"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edgehar.cli.app import DataOption, app, print_table
from edgehar.cli.numbers import number
from edgehar.cli.train import parse_params
from edgehar.errors import OptionError, excerpt
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
    val_groups: Annotated[int | None, number(0, 100_000, integer=True,
        help="People (or sessions) held out among each fold's training people for early stopping. "
        "Default: about 20% of them when there are 3 or more, else none.")] = None,
    patience: Annotated[int | None, number(1, 100_000, integer=True,
        help="Epochs without a better validation accuracy before early stopping (default 25).")] = None,
    max_rotation: Annotated[float | None, number(0.0, 180.0,
        help="Largest random rotation of the sensor axes when augmenting, degrees (default 15).")] = None,
    with_uci: Annotated[bool, typer.Option(
        "--with-uci", help="Also train each fold on UCI HAR's published training windows (--data): those of "
        "its training people when the recordings' people are UCI HAR subjects (a HAPT layout, matched by "
        "id), else the whole training split. Needs UCI HAR's six classes.")] = False,
    data: DataOption = None,
    variant: Annotated[list[str] | None, typer.Option(
        help="Exported variant to stream and score: int8 or float32; repeatable (default: both).")] = None,
    stratify: Annotated[bool, typer.Option(
        help="Deal people out so each fold's held-out people cover the classes; --no-stratify: person i "
        "(in natural order) goes to fold i mod K.")] = True,
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
    from edgehar.runtime.smoothing import KINDS, make_smoother
    from edgehar.scoring import crossval as cv

    recipes = [cv.Recipe(family, parse_params(p), pipeline=pipeline, epochs=epochs, min_epochs=min_epochs,
                         batch_size=batch_size, normalize=normalize, augment=augment, hop=hop,
                         per_channel=not per_tensor, val_groups=val_groups, patience=patience,
                         max_rotation=max_rotation, with_uci=with_uci)
               for family, p in itertools.product(model or ["dscnn"], params or [None])]
    for r in recipes:
        family_recipe(r.family)  # an unknown family is one error line, before any work
    for spec in smooth or []:
        if spec.partition(":")[0].partition("@")[0] not in KINDS:
            make_smoother(spec)  # refused now; decoder specs: with the fold's decoder
    for v in variant or []:
        if v not in cv.VARIANTS:
            raise OptionError(f"--variant {excerpt(v)}: use {' or '.join(cv.VARIANTS)}")
    found = read_recordings(recordings)
    class_map = ClassMap.parse(classes) if classes else ClassMap.of(found)
    class_map.check(found, str(recordings))
    report = cv.crossval(recordings, found, class_map, recipes, folds=None if leave_one_out else folds,
                         stratify=stratify, seeds=range(seed, seed + seeds), smoothers=smooth or [],
                         variants=tuple(dict.fromkeys(variant or cv.VARIANTS)), workers=workers, address=ray,
                         threads=threads, cache=(cache or cache_home() / "crossval").resolve(), out=out,
                         uci=data, log=lambda line: console.print(line, highlight=False, soft_wrap=True))
    console.print(f"ran: {report['ran']}", highlight=False)
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
