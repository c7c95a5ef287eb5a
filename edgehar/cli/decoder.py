"""`edgehar decoder`: estimate a bundle's decoders (for `--smooth hmm` and `--smooth hsmm`) from
labelled recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgehar.bundle import Bundle
from edgehar.cli.app import app, warn_if_undertrained
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
    alpha: Annotated[float | None, number(
        0, 1e6, help="Added to every allowed move's count. Default: 1 (hmm), 0.03 (hsmm).")] = None,
    emission_weight: Annotated[float, number(EMISSION_WEIGHT,
        help="Both decoders' exponent of each window's likelihoods: below 1 trusts one window less. "
        "Also a part of the --smooth spec: hsmm:1@0.5 runs the stored decoder at 0.5.")] = 1.0,
    default_smooth: Annotated[str, typer.Option(
        help="What `edgehar stream`, `serve` and the firmware package smooth with when --smooth is "
        "not given, e.g. hmm:1 or hsmm:1@0.5. Default: the live benchmark's choice "
        "(docs/labels.md).")] = "hsmm:1",
) -> None:
    """Estimate the decoders and store them in the bundle's metadata.json, with the smoothing
    `edgehar stream` uses by default: the HMM decoder `--smooth hmm` runs (class transitions at
    the bundle's hop, class priors, postural transitions) and the duration decoder `--smooth
    hsmm` runs (the same, with a minimum stay in each activity and the unlabelled stretches
    between activities; see docs/labels.md)."""
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
    print(f"{updated.path}: decoder with {len(updated.metadata['decoder']['states'])} states (hmm) and "
          f"duration decoder with {len(updated.metadata['duration_decoder']['states'])} (hsmm) from "
          f"{source['windows']} windows of subjects {source['subjects']}; stream smooths with "
          f"{default_smooth} by default")
    warn_if_undertrained(updated)
