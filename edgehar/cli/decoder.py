"""`edgehar decoder`: estimate a bundle's HMM decoder (for `--smooth hmm`) from labelled recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgehar.bundle import Bundle
from edgehar.cli.app import app
from edgehar.cli.numbers import number
from edgehar.errors import EdgeharError, OptionError
from edgehar.ranges import EMISSION_WEIGHT


def parse_subjects(text: str) -> list[int]:
    """'1,3,5' -> [1, 3, 5]."""
    try:
        subjects = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise EdgeharError(f"--subjects {text!r}: expected subject numbers separated by commas") from None
    if not subjects:
        raise EdgeharError("--subjects: no subject given")
    return subjects


@app.command()
def decoder(
    bundle: Annotated[Path, typer.Argument(help="Model bundle folder (models/<name>).")],
    hapt: Annotated[Path | None, typer.Option(
        help="HAPT RawData folder: its labels.txt gives the sequences.")] = None,
    recordings: Annotated[Path | None, typer.Option(
        help="Or labelled recordings (see `edgehar train --recordings`), labelled by the bundle's class "
        "map: their label sequences, for any class set.")] = None,
    subjects: Annotated[str | None, typer.Option(
        help="Only these subjects, e.g. 1,3,5 (the model's training subjects; with --recordings, "
        "subject names). Default: all.")] = None,
    alpha: Annotated[float, number(0, 1e6, help="Added to every allowed move's count.")] = 1.0,
    emission_weight: Annotated[float, number(EMISSION_WEIGHT,
        help="Exponent of each window's likelihoods: below 1 trusts one window less.")] = 1.0,
    default_smooth: Annotated[str, typer.Option(
        help="What `edgehar stream` smooths with when --smooth is not given, e.g. hmm:1.")] = "hmm",
) -> None:
    """Estimate the HMM decoder `--smooth hmm` runs (class transitions at the bundle's hop, class
    priors, postural transitions) and store it in the bundle's metadata.json, with the smoothing
    `edgehar stream` uses by default."""
    from edgehar.runtime.hmm_fit import add_decoder, add_decoder_from_recordings
    from edgehar.runtime.smoothing import make_smoother

    if (hapt is None) == (recordings is None):
        raise OptionError("give the label sequences with --hapt DIR or --recordings DIR (one of them)")
    if recordings is not None:
        names = [s.strip() for s in subjects.split(",") if s.strip()] if subjects is not None else None
        updated = add_decoder_from_recordings(Bundle.load(bundle), recordings, alpha=alpha,
                                              emission_weight=emission_weight, subjects=names)
    else:
        updated = add_decoder(Bundle.load(bundle), hapt, alpha=alpha, emission_weight=emission_weight,
                              subjects=parse_subjects(subjects) if subjects is not None else None)
    make_smoother(default_smooth, updated)  # a bad spec is refused, never stored
    updated = updated.update_metadata(smoothing=default_smooth)
    source = updated.metadata["decoder"]["source"]
    print(f"{updated.path}: decoder with {len(updated.metadata['decoder']['states'])} states from "
          f"{source['windows']} windows of subjects {source['subjects']}; stream smooths with "
          f"{default_smooth} by default")
