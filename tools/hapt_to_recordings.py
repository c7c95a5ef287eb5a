#!/usr/bin/env python3
"""Convert a HAPT ``RawData`` folder into edgehar recordings, to try the own-data path on public data.

    tools/hapt_to_recordings.py --out DIR [--raw ../shared/data/hapt-raw/RawData]
                                       [--subjects 1,3,5 | --except-subjects 1,14,25]

Writes one recording per experiment, ``DIR/hapt_expNN_userMM.csv`` plus its sidecar
``.json`` (format ``edgehar.recording/1``: g and rad/s, 50 Hz, exact values), labelled per
sample by ``edgehar.spec.HAPT_ACTIVITIES`` names, the six activities and the postural
transitions (STAND_TO_SIT, ...); samples outside any labels.txt segment are unlabelled.
Subject = the HAPT user number, session = the experiment number, as edgehar reads the
RawData layout itself, so the two give the same windows. The HAPT terms apply to the output
(cite the paper; no commercial use); never commit it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgehar.data.recordings import read_hapt_recordings, write_recording

REPO = Path(__file__).resolve().parent.parent
RAW = REPO.parent / "shared" / "data" / "hapt-raw" / "RawData"


def numbers(text: str) -> set[int]:
    try:
        return {int(v) for v in text.split(",") if v.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected user numbers, e.g. 1,3,5") from None


def convert(raw: Path, out: Path, subjects=None, except_subjects=()) -> list[Path]:
    """Write the chosen users' experiments of ``raw`` as recordings into ``out``; their paths."""
    recordings = read_hapt_recordings(raw, subjects=subjects)
    written = []
    for rec in recordings:
        if int(rec.subject) in except_subjects:
            continue
        name = f"hapt_exp{int(rec.session):02d}_user{int(rec.subject):02d}.csv"
        written.append(write_recording(rec, out / name, device="Samsung Galaxy S II on the waist (HAPT)",
                                       source=f"HAPT RawData {Path(rec.name).name}"))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=RAW, help="HAPT RawData folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="Folder to write the recordings to")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--subjects", type=numbers, help="Only these users (e.g. 1,3,5)")
    chosen.add_argument("--except-subjects", type=numbers, default=set(), help="All users but these")
    args = parser.parse_args(argv)
    written = convert(args.raw, args.out, args.subjects, args.except_subjects)
    users = sorted({p.stem.split("_user")[1] for p in written})
    print(f"wrote {len(written)} recordings of {len(users)} users to {args.out}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
