"""`edgehar train` and `edgehar evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edgehar import tflog
from edgehar.cli.app import DataOption, RecordingsOption, app, load_splits, print_table
from edgehar.errors import OptionError
from edgehar.model.recipes import FAMILIES, recipe

console = Console()


@app.command()
def train(
    model: Annotated[str, typer.Option(help=f"Model family: {', '.join(FAMILIES)}.")] = "lstm",
    data: DataOption = None,
    out: Annotated[Path | None, typer.Option(
        help="Bundle folder to write. Default: models/<name> in the current folder.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace the bundle at the target (never a folder that is not one).")] = False,
    units: Annotated[int | None, typer.Option(help="LSTM/GRU units (lstm: 100).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (family default).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (family default).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed; run k of --repeats uses seed+k-1.")] = 1,
    repeats: Annotated[int, typer.Option(help="Train N times and print mean ± std accuracy.")] = 1,
    pipeline: Annotated[str | None, typer.Option(help="Preprocessing: dataset9, causal9, raw6.")] = None,
    normalize: Annotated[bool | None, typer.Option(help="Fit per-channel normalization.")] = None,
    augment: Annotated[bool | None, typer.Option(help="IMU augmentation while training.")] = None,
    val_subjects: Annotated[int, typer.Option(help="Hold out N training subjects for early stopping.")] = 0,
    min_epochs: Annotated[int, typer.Option(help="Epochs before early stopping may stop.")] = 0,
    params: Annotated[str | None, typer.Option(
        help='Family parameters as JSON, e.g. \'{"filters": [16, 32, 64, 96], "kernel": 9}\'.')] = None,
):
    """Train a model on UCI HAR and write a bundle (model.keras, metadata.json, history.json).

    An existing bundle at the target is replaced only with --force; a folder that is not a
    bundle is never replaced.
    """
    recipe(model)
    family_params = _params(params)
    if units is not None:
        family_params["units"] = units
    name = out.name if out else f"{model}{units or ''}"
    target = out or Path("models") / name

    with tflog.quiet():
        from edgehar.model.train import TrainConfig, check_replaceable, fit, repeat_summary, write_bundle

    check_replaceable(target, force)
    train_set, test_set = load_splits(data)
    accuracies, first = [], None
    for run in range(1, repeats + 1):
        config = TrainConfig(family=model, params=family_params, epochs=epochs, batch_size=batch_size,
                             seed=seed + run - 1, pipeline=pipeline, normalize=normalize,
                             augment=augment, val_subjects=val_subjects, min_epochs=min_epochs)
        result = fit(config, train_set, test_set)
        accuracies.append(result.test_report["accuracy"])
        console.print(f">#{run}: {accuracies[-1] * 100:.3f} (test accuracy, %)")
        first = first or result
    summary = repeat_summary(accuracies)
    if repeats > 1:
        console.print(f"Accuracy: {summary['mean']:.3f}% (+/-{summary['std']:.3f}) over {repeats} runs")
    bundle = write_bundle(target, first, train_set, name, force=force,
                          extra={"repeats": summary} if repeats > 1 else None)
    console.print(f"wrote {bundle.path}")


def _params(text: str | None) -> dict:
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
    console.print(f"[bold]{b.name}[/] ({variant}) on {report['windows']} windows: "
                  f"accuracy {report['accuracy']:.2%}, macro-F1 {report['macro_f1']:.2%}")
    per_class = Table("class", "precision", "recall", "F1", "support")
    for name, m in report["per_class"].items():
        per_class.add_row(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}",
                          str(m["support"]))
    print_table(console, per_class)
    numbers = [str(i) for i in range(1, len(b.classes) + 1)]
    cm = Table("true \\ predicted", *numbers, title="confusion matrix")
    for number, name, row in zip(numbers, b.classes, report["confusion_matrix"], strict=True):
        cm.add_row(f"{number} {name}", *map(str, row))
    print_table(console, cm)
    subjects = Table("subject", "accuracy", title="per subject")
    for s, acc in report["per_subject"].items():
        subjects.add_row(s, f"{acc:.2%}")
    print_table(console, subjects)
    if png is not None:
        console.print(f"confusion matrix picture: {report['confusion_png']}")
