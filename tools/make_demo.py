"""Cut the demo recording shipped in edgehar/demo/ from the HAPT raw data, reproducibly.

    python tools/make_demo.py [--raw ../shared/data/hapt-raw/RawData] [--out edgehar/demo]

Takes experiment 1 (user 1, a UCI HAR training subject) from sample START to END, which holds
standing, sitting, lying, walking, walking downstairs and upstairs, and writes it as a gzipped
CSV ``t,ax,ay,az,gx,gy,gz`` (t = i / 50 s from the excerpt's start; 6 significant digits,
far below the sensor's noise) plus a README with the labelled stretches and the credits.
The gzip header carries no time stamp, so rerunning gives identical bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
from pathlib import Path

from edgehar.data.recordings import read_hapt_experiment, read_hapt_labels
from edgehar.spec import ACTIVITIES, SAMPLE_RATE_HZ

REPO = Path(__file__).resolve().parent.parent
EXPERIMENT, USER = 1, 1
START, END = 250, 14700
OUT = REPO / "edgehar" / "demo"
NAME = f"hapt_exp{EXPERIMENT:02d}_user{USER:02d}.csv.gz"
TRANSITIONS = {7: "STAND_TO_SIT", 8: "SIT_TO_STAND", 9: "SIT_TO_LIE", 10: "LIE_TO_SIT",
               11: "STAND_TO_LIE", 12: "LIE_TO_STAND"}

README = """# Demo recording

`{name}` is an excerpt of a real smartphone IMU recording: experiment {exp} (user {user}) of the
HAPT dataset, raw samples {start} to {end} (0-based, end excluded), {minutes:.1f} minutes at 50 Hz.
Columns `t,ax,ay,az,gx,gy,gz`: t in seconds from the excerpt's start, total acceleration in g,
angular velocity in rad/s (6 significant digits). `edgehar stream --source demo` replays it.
It was cut by `tools/make_demo.py`, which regenerates it byte for byte.

Labelled stretches (sample indices into this excerpt, end excluded; other samples are unlabelled):

| start | end | activity |
| ---: | ---: | --- |
{table}

## Credits and terms

Jorge-L. Reyes-Ortiz, Luca Oneto, Albert Samà, Xavier Parra, Davide Anguita.
*Transition-Aware Human Activity Recognition Using Smartphones.* Neurocomputing 171 (2016) 754-767.
Smartphone-Based Recognition of Human Activities and Postural Transitions Data Set (UCI Machine
Learning Repository), Smartlab, Università degli Studi di Genova.

The dataset's terms apply to this file: publications using it must cite the paper above; the
data is distributed AS-IS, with no responsibility implied or explicit; any commercial use is
prohibited.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=REPO.parent / "shared" / "data" / "hapt-raw" / "RawData")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    out = args.out
    raw = read_hapt_experiment(args.raw / f"acc_exp{EXPERIMENT:02d}_user{USER:02d}.txt.gz")[START:END]
    text = io.StringIO()
    text.write("t,ax,ay,az,gx,gy,gz\n")
    for i, row in enumerate(raw):
        text.write(f"{i / SAMPLE_RATE_HZ:.2f}," + ",".join(f"{v:.6g}" for v in row) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / NAME, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0,
                                                     filename="") as gz:
        gz.write(text.getvalue().encode("ascii"))
    rows = []
    for s in read_hapt_labels(args.raw / "labels.txt"):
        if s.experiment == EXPERIMENT and s.start < END and s.end > START:
            name = ACTIVITIES[s.activity - 1] if s.activity <= 6 else TRANSITIONS[s.activity]
            rows.append(f"| {max(s.start, START) - START} | {min(s.end, END) - START} | {name} |")
    (out / "README.md").write_text(README.format(
        name=NAME, exp=EXPERIMENT, user=USER, start=START, end=END,
        minutes=(END - START) / SAMPLE_RATE_HZ / 60, table="\n".join(rows)))
    print(f"wrote {out / NAME} ({(out / NAME).stat().st_size // 1024} KiB) and {out / 'README.md'}")


if __name__ == "__main__":
    main()
