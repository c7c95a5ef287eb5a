"""`edgehar train` and `edgehar evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from edgehar import tflog
from edgehar.cli.app import (
    DataOption,
    RecordingsOption,
    app,
    count,
    load_splits,
    on_command_line,
    output_console,
    print_table,
    warn_if_undertrained,
)
from edgehar.cli.numbers import number
from edgehar.errors import OptionError
from edgehar.metadata import MAX_WINDOW
from edgehar.model.recipes import FAMILIES, recipe
from edgehar.ranges import SEED
from edgehar.spec import HOP, WINDOW

console = output_console()


@app.command()
def train(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help=f"Model family: {', '.join(FAMILIES)}.")] = "lstm",
    data: DataOption = None,
    recordings: Annotated[Path | None, typer.Option(
        help="Train on a folder of labelled recordings (NAME.csv + NAME.json, or a HAPT RawData "
        "layout) instead of UCI HAR; any class set.")] = None,
    classes: Annotated[str | None, typer.Option(
        help="With --recordings: the classes, e.g. 'WALKING,SITTING' or "
        "'active=WALKING+RUNNING,static=SITTING+STANDING,LAYING' (a class takes the labels after "
        "'=', else its own name). Default: every label found.")] = None,
    val_groups: Annotated[int | None, number(0, 100_000, integer=True,
        help="With --recordings: hold out N subjects (or, with fewer than 2 subjects named, N "
        "sessions) for early stopping and the reported accuracy. Default: about 20% of them when "
        "there are 3 or more, else none.")] = None,
    hop: Annotated[int, number(1, MAX_WINDOW, integer=True,
        help="With --recordings: samples between training windows (smaller: more windows).")] = HOP,
    out: Annotated[Path | None, typer.Option(
        help="Bundle folder to write. Default: models/<name> in the current folder.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace the bundle at the target (never a folder that is not one).")] = False,
    units: Annotated[int | None, number(1, 4096, integer=True, help="LSTM/GRU units (lstm: 100).")] = None,
    epochs: Annotated[int | None, number(1, 100_000, integer=True, help="Epochs (family default).")] = None,
    batch_size: Annotated[int | None, number(1, 1 << 20, integer=True,
                                               help="Batch size (family default).")] = None,
    seed: Annotated[int, number(*SEED, integer=True,
                                 help="Random seed; run k of --repeats uses seed+k-1.")] = 1,
    repeats: Annotated[int, number(1, 1000, integer=True,
                                    help="Train N times and print mean ± std accuracy.")] = 1,
    pipeline: Annotated[str | None, typer.Option(help="Preprocessing: dataset9, causal9, raw6.")] = None,
    normalize: Annotated[bool | None, typer.Option(help="Fit per-channel normalization.")] = None,
    augment: Annotated[bool | None, typer.Option(help="IMU augmentation while training.")] = None,
    val_subjects: Annotated[int, number(0, 1000, integer=True,
        help="UCI HAR: hold out N training subjects for early stopping.")] = 0,
    min_epochs: Annotated[int, number(0, 100_000, integer=True,
                                       help="Epochs before early stopping may stop.")] = 0,
    params: Annotated[str | None, typer.Option(
        help='Family parameters as JSON, e.g. \'{"filters": [16, 32, 64, 96], "kernel": 9}\'.')] = None,
):
    """Train a model on UCI HAR, or on your own labelled --recordings, and write a bundle
    (model.keras, metadata.json, history.json).

    With --recordings no UCI HAR data is needed: the windows are cut from each recording run
    whole through the causal pipeline the live stream runs, and the accuracy printed is on the
    held-out validation subjects or sessions (they also pick the epoch, so it is optimistic).
    An existing bundle at the target is replaced only with --force; a folder that is not a
    bundle is never replaced.
    """
    recipe(model)
    family_params = parse_params(params)
    if units is not None:
        family_params["units"] = units
    name = out.name if out else f"{model}{units or ''}"
    target = out or Path("models") / name
    given = {p: getattr(ctx.get_parameter_source(p), "name", "") == "COMMANDLINE"
             for p in ("data", "classes", "val_groups", "hop", "val_subjects")}
    if recordings is not None and given["data"]:
        raise OptionError("--data and --recordings are exclusive: train on UCI HAR or on your recordings")
    if recordings is None and (given["classes"] or given["val_groups"] or given["hop"]):
        raise OptionError("--classes, --val-groups and --hop go with --recordings")
    if recordings is not None and given["val_subjects"]:
        raise OptionError("with --recordings, hold out validation groups with --val-groups")
    if hop < 1:
        raise OptionError(f"--hop {hop}: must be at least 1")

    with tflog.quiet():
        from edgehar.model.train import TrainConfig, check_replaceable, fit, repeat_summary, write_bundle

    check_replaceable(target, force)

    def config(run: int, **more) -> TrainConfig:
        return TrainConfig(**{"family": model, "params": family_params, "epochs": epochs,
                              "batch_size": batch_size, "seed": seed + run - 1, "pipeline": pipeline,
                              "normalize": normalize, "augment": augment, "min_epochs": min_epochs, **more})

    if recordings is None:
        train_set, test_set = load_splits(data)
        configs = [config(run, val_subjects=val_subjects) for run in range(1, repeats + 1)]
        described = None
    else:
        train_set, test_set, described, held = _recording_windows(recordings, classes, val_groups, hop,
                                                                  config(1).resolved().pipeline)
        configs = [config(run, val_subjects=held, pipeline=train_set.pipeline.name)
                   for run in range(1, repeats + 1)]
    accuracies, first = [], None
    for run, run_config in enumerate(configs, start=1):
        with tflog.quiet_native():  # tf.data's E0000 NodeDef lines
            result = fit(run_config, train_set, test_set)
        first = first or result
        if test_set is not None:
            accuracies.append(result.test_report["accuracy"])
            console.print(f">#{run}: {accuracies[-1] * 100:.3f} (test accuracy, %)")
        elif result.validation is not None:
            v = result.validation
            accuracies.append(v["report"]["accuracy"])
            console.print(f">#{run}: {accuracies[-1] * 100:.3f} (validation accuracy on held-out "
                          f"{v['by']}s {', '.join(map(str, v['groups']))}, {v['report']['windows']} "
                          "windows, %)")
            missing = [c for c, m in v["report"]["per_class"].items() if not m["support"]]
            if missing:
                console.print(f"note: the held-out {v['by']}s have no windows of {', '.join(missing)}, so "
                              "early stopping cannot judge those classes; another --seed draws other "
                              f"{v['by']}s", highlight=False, soft_wrap=True)
        else:
            console.print(f">#{run}: trained (nothing held out: no accuracy to report)")
    summary = repeat_summary(accuracies) if accuracies else None
    if repeats > 1 and summary:
        console.print(f"Accuracy: {summary['mean']:.3f}% (+/-{summary['std']:.3f}) over {repeats} runs")
    bundle = write_bundle(target, first, train_set, name, force=force, recordings=described,
                          extra={"repeats": summary} if repeats > 1 and summary else None)
    console.print(f"wrote {bundle.path}")
    warn_if_undertrained(bundle)


def _recording_windows(folder: Path, spec: str | None, val_groups: int | None, hop: int,
                       family_pipeline: str):
    """Training windows of the recordings in ``folder`` (no test split), what the bundle records
    of them, and how many groups to hold out. Prints what was found."""
    from edgehar.data.recordings import ClassMap, read_recordings, recording_windows
    from edgehar.errors import DataError
    from edgehar.model.train import recordings_metadata
    from edgehar.preprocess.pipeline import Pipeline

    recordings = read_recordings(folder)
    class_map = ClassMap.parse(spec) if spec else ClassMap.of(recordings)
    class_map.check(recordings, str(folder))
    pipeline = Pipeline.preset(family_pipeline)
    if pipeline.train_from == "dataset":  # UCI HAR's published channels: live, causal9 is the same maths
        pipeline = Pipeline.preset("causal9")
    windows = recording_windows(recordings, pipeline, class_map, hop, source=str(folder.resolve()))
    described = recordings_metadata(folder, recordings, class_map, windows, hop)
    empty = [c for c, n in described["windows"].items() if n == 0]
    if empty:
        raise DataError(f"{folder}: no {WINDOW}-sample stretch of class {', '.join(empty)} (--hop {hop}); "
                        "record longer stretches of it, or leave it out of --classes")
    by, groups = windows.groups()
    n_groups = len(set(groups.tolist()))
    if val_groups is None:
        val_groups = max(1, round(n_groups / 5)) if n_groups >= 3 else 0
    elif not 0 <= val_groups < n_groups:
        raise OptionError(f"--val-groups {val_groups}: the windows come from {count(n_groups, by)}; hold out "
                          f"0..{n_groups - 1}")
    console.print(f"{count(described['files'], 'recording')}, {described['minutes']} min, "
                  f"{count(len(described['subjects']), 'subject')}, pipeline {pipeline.name}; "
                  f"{count(len(windows), 'window')}: "
                  + ", ".join(f"{c} {n}" for c, n in described["windows"].items()))
    if val_groups == 0:
        console.print(f"validation: none held out ({count(n_groups, by)}; "
                      "3 or more are needed for the default); every epoch runs, no accuracy is measured")
    else:
        console.print(f"validation: {val_groups} of {count(n_groups, by)} held out for early stopping and "
                      "the reported accuracy")
    return windows, None, described, val_groups


def parse_params(text: str | None) -> dict:
    """--params JSON -> a dict of family parameters (one error line when it is not a JSON object)."""
    if not text:
        return {}
    try:
        params = json.loads(text)
    except json.JSONDecodeError as err:
        raise OptionError(f"--params is not JSON: {err}") from None
    if not isinstance(params, dict):
        raise OptionError(f"--params {text}: a JSON object is needed, e.g. '{{\"kernel\": 9}}'")
    return params


@app.command()
def evaluate(
    ctx: typer.Context,
    bundle: Annotated[Path, typer.Argument(help="Model bundle folder.")],
    data: DataOption = None,
    variant: Annotated[str, typer.Option(
        help="keras, or an exported variant: float32, float16, dynamic, int8.")] = "keras",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    png: Annotated[Path | None, typer.Option(
        help="Also draw the confusion matrix to this PNG file (needs matplotlib).")] = None,
    recordings: RecordingsOption = None,
):
    """Accuracy, macro-F1, per-class and per-subject scores and the confusion matrix on the UCI HAR
    test split, or on the windows of --recordings DIR (no UCI HAR needed)."""
    from edgehar.bundle import Bundle
    from edgehar.export.convert import VARIANTS
    from edgehar.model.evaluate import evaluate_bundle, plot_confusion

    if variant not in ("keras", *VARIANTS):
        raise OptionError(f"--variant {variant!r}: choose from keras, {', '.join(VARIANTS)}")
    if png is not None:
        import matplotlib  # noqa: F401  (a missing extra is reported now, not after the work)
    if recordings is not None and on_command_line(ctx, "data"):
        raise OptionError("--data and --recordings are exclusive: evaluate on UCI HAR's test split or on "
                          "your recordings")
    b = Bundle.load(bundle)
    if recordings is not None:
        from edgehar.data.labelled import bundle_windows, labelled_recordings

        test_set = bundle_windows(b, *labelled_recordings(b, recordings), source=str(recordings))
    else:
        (test_set,) = load_splits(data, ("test",))
    with tflog.quiet():  # TensorFlow's start-up logs, for the Keras model
        report = evaluate_bundle(b, test_set, variant)
    if png is not None:
        report["confusion_png"] = str(plot_confusion(report, b.classes, png))
    if as_json:
        typer.echo(json.dumps(report))
        return
    console.print(Text.assemble((b.name, "bold"), f" ({variant}) on {report['windows']} windows: "
                                f"accuracy {report['accuracy']:.2%}, macro-F1 {report['macro_f1']:.2%}"))
    per_class = Table("class", "precision", "recall", "F1", "support")
    for name, m in report["per_class"].items():
        per_class.add_row(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}",
                          str(m["support"]))
    print_table(console, per_class)
    numbers = [str(i) for i in range(1, len(b.classes) + 1)]
    cm = Table("true \\ predicted", *numbers, title="confusion matrix")
    for code, name, row in zip(numbers, b.classes, report["confusion_matrix"], strict=True):
        cm.add_row(f"{code} {name}", *map(str, row))
    print_table(console, cm)
    subjects = Table("subject", "accuracy", title="per subject")
    for s, acc in report["per_subject"].items():
        subjects.add_row(s, f"{acc:.2%}")
    print_table(console, subjects)
    if png is not None:
        console.print(f"confusion matrix picture: {report['confusion_png']}")
