"""Own data, end to end, from the command line alone and with no UCI HAR on the machine (issue 12 (a)).

    python tools/own_data_e2e.py [--work /tmp/edgehar-own-data-e2e] [--out models/own-data-e2e.json]
                                 [--held-out 1,14,25] [--train-subjects N] [--epochs 60] [--quick]

1. ``tools/hapt_to_recordings.py`` writes the 21 HAPT subjects of ``../shared/data/hapt-raw``
   as recordings (CSV + sidecar, transitions labelled) into two folders: ``train/`` (18
   subjects) and ``heldout/`` (3 subjects: by default 1, 14 and 25, fold 0 of
   tools/live_results.py);
2. with ``EDGEHAR_DATA`` and the user data and cache folders pointing at empty folders (checked
   empty before and after: no UCI HAR anywhere edgehar looks), it runs
   ``edgehar train --recordings train/`` for seven classes that are not UCI HAR's (its six
   activities and one TRANSITION class merging the six postural transitions), ``edgehar
   export`` (int8 calibrated on the training recordings), ``edgehar validate --recordings
   heldout/`` (every held-out recording streamed sample by sample through the int8 model) and
   ``edgehar stream --source csv:heldout/<one>.csv`` (validate also with the float32 model, to
   show what int8 costs live);
3. writes every command, its exit status, time and output, and the measured results to ``--out``.

``--quick`` (2 training subjects, 1 held out, 2 epochs, a small model) checks the chain in
minutes. The recipe is the shipped Pi default's (models/dscnn-pi-live): dscnn 32-64-96-128,
causal9, normalization, augmentation, cosine decay, early stopping on held-out training subjects.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RAW = REPO.parent / "shared" / "data" / "hapt-raw" / "RawData"
SUBJECTS = (1, 3, 5, 6, 7, 8, 11, 14, 15, 16, 17, 19, 21, 22, 23, 25, 26, 27, 28, 29, 30)
"""The 21 UCI HAR training subjects whose raw recordings the shared HAPT copy holds."""
HELD_OUT = (1, 14, 25)
CLASSES = ("WALKING,WALKING_UPSTAIRS,WALKING_DOWNSTAIRS,SITTING,STANDING,LAYING,"
           "TRANSITION=STAND_TO_SIT+SIT_TO_STAND+SIT_TO_LIE+LIE_TO_SIT+STAND_TO_LIE+LIE_TO_STAND")
RECIPE = ["--model", "dscnn", "--pipeline", "causal9", "--params",
          '{"filters": [32, 64, 96, 128], "kernel": [7, 5, 7, 7], "full_convs": 2}']
QUICK = ["--model", "dscnn", "--pipeline", "causal9", "--params", '{"filters": [8, 16], "kernel": 5}']


def run(step: str, args: list[str], env: dict, log: list, cwd: Path) -> subprocess.CompletedProcess:
    """Run one command, record it in ``log`` and stop the whole run if it fails."""
    started = time.monotonic()
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = round(time.monotonic() - started, 1)
    shown = [Path(a).name if a == sys.executable else a for a in args]
    log.append({"step": step, "command": " ".join(shown), "exit": done.returncode, "seconds": seconds,
                "output": (done.stdout + done.stderr)[-4000:] if step != "stream" else done.stderr[-2000:]})
    print(f"[{step}] exit {done.returncode} in {seconds} s: {' '.join(shown)}", flush=True)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"{step} failed (exit {done.returncode})")
    return done


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def stream_summary(done: subprocess.CompletedProcess, csv: Path) -> dict:
    """What the live stream of one held-out recording reported (its closing JSON line: windows,
    labels said, accuracy against the file's label column) and its first window."""
    windows = [line for line in done.stdout.splitlines() if line.startswith("{")]
    closing = [line for line in done.stderr.splitlines() if line.startswith("{")]
    return {"file": csv.name, "summary": json.loads(closing[-1]) if closing else None,
            "first_window": json.loads(windows[0]) if windows else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=RAW)
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgehar-own-data-e2e"))
    parser.add_argument("--out", type=Path, default=REPO / "models" / "own-data-e2e.json")
    parser.add_argument("--held-out", default=",".join(map(str, HELD_OUT)))
    parser.add_argument("--train-subjects", type=int, default=None, help="Only the first N others")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--min-epochs", type=int, default=30)
    parser.add_argument("--hop", type=int, default=64, help="Samples between training windows")
    parser.add_argument("--quick", action="store_true", help="2 + 1 subjects, 2 epochs, a tiny model")
    args = parser.parse_args(argv)
    held = [int(s) for s in args.held_out.split(",")]
    train_subjects = [s for s in SUBJECTS if s not in held][:args.train_subjects]
    recipe, epochs, min_epochs = RECIPE, args.epochs, args.min_epochs
    if args.quick:
        held, train_subjects, recipe, epochs, min_epochs = held[:1], train_subjects[:3], QUICK, 2, 0

    work = args.work.resolve()
    if work.exists():
        shutil.rmtree(work)
    train_dir, held_dir, bundle = work / "train", work / "heldout", work / "models" / "own7"
    empty = {name: work / "empty" / name for name in ("data", "xdg-data", "xdg-cache", "cache")}
    for folder in empty.values():
        folder.mkdir(parents=True)
    env = {**os.environ, "EDGEHAR_DATA": str(empty["data"]), "XDG_DATA_HOME": str(empty["xdg-data"]),
           "XDG_CACHE_HOME": str(empty["xdg-cache"]), "EDGEHAR_CACHE": str(empty["cache"]),
           "MPLCONFIGDIR": str(work / "matplotlib"), "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}
    env.pop("EDGEHAR_TEST_DATA", None)
    edgehar = [sys.executable, "-m", "edgehar"]
    tool = [sys.executable, str(REPO / "tools" / "hapt_to_recordings.py"), "--raw", str(args.raw)]
    log: list[dict] = []
    started = time.time()

    run("convert train", [*tool, "--out", str(train_dir), "--subjects", ",".join(map(str, train_subjects))],
        env, log, work)
    run("convert held-out", [*tool, "--out", str(held_dir), "--subjects", ",".join(map(str, held))],
        env, log, work)
    before = {name: listing(folder) for name, folder in empty.items()}
    run("train", [*edgehar, "train", "--recordings", str(train_dir), "--classes", CLASSES, *recipe,
                  "--epochs", str(epochs), "--min-epochs", str(min_epochs), "--hop", str(args.hop),
                  "--out", str(bundle)], env, log, work)
    # Checks that fail are recorded (export_report.json) rather than stopping the chain.
    run("export", [*edgehar, "export", str(bundle), "--quant", "float32,int8", "--accept-failed-checks"],
        env, log, work)
    validate = {}
    for variant in ("int8", "float32"):
        command = [*edgehar, "validate", "--model", str(bundle), "--recordings", str(held_dir),
                   "--variant", variant, "--json"]
        validate[variant] = run(f"validate {variant}", command, env, log, work)
    one = sorted(held_dir.glob("*.csv"))[0]
    stream = run("stream", [*edgehar, "stream", "--model", str(bundle), "--variant", "int8",
                            "--source", f"csv:{one}", "--jsonl"], env, log, work)
    after = {name: listing(folder) for name, folder in empty.items()}

    meta = json.loads((bundle / "metadata.json").read_text())
    int8 = meta["exports"]["int8"]
    results = {
        "about": "Issue 12 (a): HAPT recordings converted to the edgehar recording format, trained for a "
                 "class set that is not UCI HAR's, exported to int8 and streamed, from the CLI with no "
                 "UCI HAR data where edgehar looks (tools/own_data_e2e.py).",
        "classes": CLASSES,
        "train_subjects": train_subjects,
        "held_out_subjects": held,
        "no_uci_har": {"env": {k: env[k] for k in ("EDGEHAR_DATA", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                                                   "EDGEHAR_CACHE")},
                       "contents_before": before, "contents_after": after,
                       "empty_throughout": not any(before.values()) and not any(after.values())},
        "train": {"classes": meta["classes"], "recordings": meta["training"]["recordings"],
                  "epochs_run": meta["training"]["epochs_run"],
                  "train_windows": meta["training"]["train_windows"],
                  "validation": meta["metrics"].get("validation"), "model": meta["model"],
                  "pipeline": meta["pipeline"]["name"]},
        "export": {"int8_bytes": int8["bytes"], "calibration": int8.get("calibration"),
                   "report": json.loads((bundle / "export_report.json").read_text())
                   if (bundle / "export_report.json").is_file() else None},
        "validate_heldout_int8": json.loads(validate["int8"].stdout.strip().splitlines()[-1]),
        "validate_heldout_float32": json.loads(validate["float32"].stdout.strip().splitlines()[-1]),
        "stream": stream_summary(stream, one),
        "steps": log,
        "minutes": round((time.time() - started) / 60, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(args.out)
    for variant in ("int8", "float32"):
        live = results[f"validate_heldout_{variant}"]["smoothing"]["none"]
        print(f"held-out subjects {held}: live {variant} accuracy {live['accuracy']:.4f}, "
              f"macro-F1 {live['macro_f1']:.4f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
