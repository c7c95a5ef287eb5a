"""`edgehar finetune`: adapt a bundle to a new wearer, device or placement with their recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgehar import tflog
from edgehar.cli.app import app, output_console
from edgehar.cli.numbers import number
from edgehar.ranges import LEARNING_RATE, LOSS_WEIGHT, SEED, SHARE

console = output_console()


@app.command()
def finetune(
    bundle: Annotated[Path, typer.Argument(help="Model bundle folder to adapt (it is not changed).")],
    recordings: Annotated[Path, typer.Option(
        help="Labelled recordings of the wearer: NAME.csv (+ NAME.json) files or a HAPT RawData layout.")],
    out: Annotated[Path, typer.Option(help="Folder of the new bundle.")],
    force: Annotated[bool, typer.Option(
        "--force", help="Replace the bundle at --out (never a folder that is not one).")] = False,
    minutes: Annotated[float | None, number(0, 1e6, above=True,
        help="Use only the first N labelled minutes (recordings in name order). Default: all.")] = None,
    layers: Annotated[str | None, typer.Option(
        help="Weights to update: all (default), head, bn or top:K (last K conv blocks + head).")] = None,
    epochs: Annotated[int | None, number(0, 100_000, integer=True,
        help="Passes over the new windows (default 20; 0: align only).")] = None,
    learning_rate: Annotated[float | None, number(LEARNING_RATE,
                                                   help="Adam learning rate (default 3e-4).")] = None,
    align: Annotated[bool | None, typer.Option(
        "--align/--no-align",
        help="Estimate how the sensor is turned, fold it into the model (default on).")] = None,
    distill: Annotated[float | None, number(LOSS_WEIGHT,
        help="Weight of the base model's own outputs as a second target (default 1; 0: none).")] = None,
    guard: Annotated[float | None, number(SHARE,
        help="Share of each labelled stretch held out: keep the base if worse there (default 0).")] = None,
    keep_below_loss: Annotated[float | None, number(LOSS_WEIGHT,
        help="Keep the base as it is when its mean cross-entropy on the recordings is at most this "
             "(nats; default 0: always adapt; 1 never cost a measured wearer accuracy).")] = None,
    rehearse: Annotated[Path | None, typer.Option(
        help="The base model's training recordings: mix them into every batch against forgetting.")] = None,
    seed: Annotated[int, number(*SEED, integer=True, help="Random seed.")] = 1,
):
    """Fine-tune BUNDLE on a few minutes of labelled recordings and write a new bundle with the same
    pipeline, classes, smoothing and decoder; export it with `edgehar export` as usual.

    Labels that are not among the bundle's classes are ignored (with a note).
    """
    from dataclasses import asdict

    from edgehar.bundle import Bundle

    with tflog.quiet():
        from edgehar.model.finetune import FinetuneConfig, finetune_windows, write_finetuned
        from edgehar.model.finetune import finetune as run_finetune
        from edgehar.model.train import check_replaceable

    given = {"layers": layers, "epochs": epochs, "learning_rate": learning_rate, "align": align,
             "distill": distill, "guard": guard, "keep_below_loss": keep_below_loss, "seed": seed}
    defaults = asdict(FinetuneConfig())
    config = FinetuneConfig(**{**defaults, **{k: v for k, v in given.items() if v is not None}}).check()
    if rehearse is not None and config.rehearsal == 0:
        config.rehearsal = 0.5
    base = Bundle.load(bundle)
    check_replaceable(out, force)
    windows, notes = finetune_windows(base, recordings, config.hop, minutes)
    old = finetune_windows(base, rehearse, 64)[0] if rehearse is not None else None
    for note in notes:
        console.print(f"note: {note}")
    result = run_finetune(base, windows, config, old)
    written = write_finetuned(out, result, windows, force=force)
    record = result.record
    kept = (record["guard"] or {}).get("kept", "fine-tuned")
    console.print(f"wrote {written.path}: {base.name} fine-tuned on {record['windows']} windows "
                  f"({record['minutes']:.1f} labelled min); kept: {kept}")
    if not record["adapted"]:
        console.print(f"the base model already labels these recordings well (mean cross-entropy "
                      f"{record['base_loss']:.3f} <= {config.keep_below_loss}): kept as it is")
    if kept == "base":
        console.print("the fine-tuned model was worse on the held-out part of the new data, so the "
                      "bundle keeps the base weights")
