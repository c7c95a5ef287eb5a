"""`edgehar export` and `edgehar bench`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from edgehar.cli.app import (
    DataOption,
    RecordingsOption,
    app,
    load_splits,
    output_console,
    print_table,
    progress,
    warn_if_undertrained,
)
from edgehar.cli.numbers import number
from edgehar.errors import DataError, ExportError

console = output_console()
ALL = "all"
CHECKS_FAILED_EXIT = 3
"""Exit status of an export whose files are written but whose validation checks failed."""


def parse_variants(quant: str) -> tuple[str, ...]:
    """'all' or a comma-separated list of variants, in export order."""
    from edgehar.export.convert import VARIANTS

    if quant == ALL:
        return VARIANTS
    wanted = [q.strip() for q in quant.split(",") if q.strip()]
    unknown = [q for q in wanted if q not in VARIANTS]
    if unknown or not wanted:
        raise ExportError(f"--quant {quant!r}: choose from {', '.join(VARIANTS)} or {ALL}")
    return tuple(v for v in VARIANTS if v in wanted)


@app.command()
def export(
    bundle: Annotated[Path, typer.Argument(help="Model bundle folder (models/<name>).")],
    quant: Annotated[str, typer.Option(
        help="Variants, comma-separated: float32, float16, dynamic, int8; or all.")] = ALL,
    data: DataOption = None,
    firmware: Annotated[Path | None, typer.Option(
        help="Also write the TFLite-Micro firmware package (int8) to this folder. Without it, a "
             "package an earlier export wrote is regenerated for the new int8 model.")] = None,
    per_tensor: Annotated[bool | None, typer.Option(
        "--per-tensor/--per-channel",
        help="int8 with one scale per weight tensor (a smaller file) or per output channel. "
        "Default: what the bundle's last export used, else per channel.")] = None,
    accept_failed_checks: Annotated[bool, typer.Option(
        "--accept-failed-checks",
        help=f"Exit 0 even when a validation check fails (else exit {CHECKS_FAILED_EXIT}).")] = False,
    tflm_sources: Annotated[Path | None, typer.Option(
        envvar="EDGEHAR_TFLM_SOURCES",
        help="TFLM sources (tflite-micro-tree/, tflite-micro-cmsis-nn-kernels/, cmsis-nn/): also "
             "measure the firmware's arena with the CMSIS-NN kernels.")] = None,
    recordings: RecordingsOption = None,
):
    """Export TFLite variants, validate them, write export_report.json.

    A bundle trained on UCI HAR is validated on the whole test split; one trained on recordings
    is calibrated on its own training recordings and validated on the groups it held out, with
    no UCI HAR needed. --recordings DIR: validate on DIR instead (and calibrate on it when the
    bundle's training recordings are no longer on this machine).

    Exit status 3: the files are written but a validation check FAILed (see the report).
    """
    from edgehar.bundle import Bundle
    from edgehar.export.convert import export_variants
    from edgehar.export.firmware import recorded_firmware, write_firmware
    from edgehar.export.report import REPORT_FILE, failed_checks, report_table, validate
    from edgehar.export.tflm_build import TflmSources

    variants = parse_variants(quant)
    sources = TflmSources.at(tflm_sources) if tflm_sources is not None else None
    loaded = Bundle.load(bundle)
    calibration, validation = export_data(loaded, data, recordings)
    calibration = finetuned_calibration(loaded, calibration)
    regenerate = recorded_firmware(loaded) if firmware is None and "int8" in variants else None
    package = firmware or regenerate
    inside = _inside(package, loaded.path) if package is not None else None
    with loaded.edit() as stage:  # the bundle changes in one step, once everything is written
        with progress("converting") as step:
            paths = export_variants(stage, calibration, variants,
                                    per_channel=None if per_tensor is None else not per_tensor, progress=step)
        with progress("validating") as step:
            report = validate(stage.reload(), validation, variants, progress=step)
        if inside is not None:
            write_firmware(stage.reload(), stage.path / inside, tflm_sources=sources,
                           record_as=inside.as_posix())
    for path in (loaded.path / p.name for p in paths.values()):
        console.print(f"wrote {path} ({path.stat().st_size:,} B)")
    print_table(console, report_table(report))
    for name, target in report["targets"].items():
        mark = Text("pass", "green") if target["pass"] else Text("FAIL", "red")
        console.print(Text.assemble(mark, f" {name}: {target['value']} (limit {target['limit']})"))
    console.print(f"wrote {loaded.path / REPORT_FILE}")
    warn_if_undertrained(loaded, report["keras"].get("mean_confidence"))
    if package is not None:
        if inside is None:
            write_firmware(Bundle.load(loaded.path), package, tflm_sources=sources)
        why = "" if firmware else " (regenerated for the new int8 model: an earlier export wrote it there)"
        console.print(f"wrote firmware package {package}{why}", highlight=False, soft_wrap=True)
    failed = failed_checks(report)
    if failed and not accept_failed_checks:
        console.print(Text.assemble((f"{len(failed)} validation check(s) failed", "red"),
                                    f" ({', '.join(failed)}): exit {CHECKS_FAILED_EXIT}; the files are "
                                    "written, --accept-failed-checks exits 0"))
        raise typer.Exit(CHECKS_FAILED_EXIT)


def export_data(bundle, data: Path | None, recordings: Path | None):
    """(calibration, validation) windows for ``edgehar export`` (see its help); UCI HAR is read
    only for a bundle that was not trained on recordings."""
    from edgehar.data.labelled import (
        bundle_windows,
        labelled_recordings,
        own_windows,
        trained_folder,
        training_recordings,
    )
    from edgehar.export.convert import calibration_windows, trained_hapt_folder

    given = None
    if recordings is not None:
        given = bundle_windows(bundle, *labelled_recordings(bundle, recordings), source=str(recordings))
    if training_recordings(bundle) is None:
        recorded, folder = trained_hapt_folder(bundle)
        if recorded and folder is None:
            console.print(f"{recorded} (the HAPT recordings {bundle.name} was trained on, metadata.json "
                          "training.data_source) is not on this machine: calibrating int8 on the UCI HAR "
                          "training split instead")
        if given is None:
            train_set, test_set = load_splits(data)
            return calibration_windows(bundle, train_set), test_set
        return calibration_windows(bundle, load_splits(data, ("train",))[0]), given
    folder = trained_folder(bundle)
    if folder is None or not folder.exists():
        if given is None:
            raise DataError(f"{bundle.location} was trained on the recordings in {folder}, which are not "
                            "on this machine: pass --recordings DIR to calibrate and validate on")
        console.print(f"{folder} (the training recordings) is not on this machine: calibrating and "
                      f"validating on {recordings}", highlight=False, soft_wrap=True)
        return given, given
    train_windows, held_out = own_windows(bundle)
    return train_windows, held_out if given is None else given


def finetuned_calibration(bundle, calibration):
    """A fine-tuned bundle calibrates on its new wearer's recordings too, when they are here."""
    from edgehar.data.labelled import bundle_windows, labelled_recordings
    from edgehar.export.convert import with_new_wearer

    folder = Path(bundle.metadata.get("finetune", {}).get("data_source") or "")
    if not str(folder) or str(folder) == ".":
        return calibration
    if not folder.is_dir():
        console.print(f"{folder} (the recordings {bundle.name} was fine-tuned on) is not on this machine: "
                      "calibrating int8 on the base's data only", highlight=False, soft_wrap=True)
        return calibration
    new = bundle_windows(bundle, *labelled_recordings(bundle, folder), source=str(folder))
    return with_new_wearer(bundle, calibration, new)


def _inside(folder: Path, bundle: Path) -> Path | None:
    """``folder`` relative to ``bundle`` when it lies inside it, else None."""
    try:
        return folder.resolve().relative_to(bundle.resolve())
    except ValueError:
        return None


@app.command()
def bench(
    bundle: Annotated[Path | None, typer.Argument(
        help="Exported model bundle folder. Default: the bundle named by models/DEFAULT.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    windows: Annotated[int, number(1, 1_000_000, integer=True,
                                    help="Windows timed per variant and runtime.")] = 200,
):
    """Per-window latency (batch 1, 1 thread), model and arena bytes, peak RSS per runtime.

    Runtimes that are not installed (Keras and TFLM come with edgehar[train]) are skipped with a note.
    """
    from edgehar.bundle import Bundle
    from edgehar.export.bench import bench as run_bench

    loaded = Bundle.load(bundle) if bundle else Bundle.default()
    with progress("benchmarking") as step:
        result = run_bench(loaded, windows, progress=step)
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"{result['bundle']}: {windows} windows, batch 1, 1 thread")
    for column in ("variant", "runtime", "p50 ms", "p99 ms", "model B", "arena B", "peak RSS MiB"):
        table.add_column(column, justify="left" if column in ("variant", "runtime") else "right")
    for row in result["rows"]:
        table.add_row(row["variant"], row["runtime"], f"{row['p50_ms']:.3f}", f"{row['p99_ms']:.3f}",
                      f"{row['model_bytes']:,}",
                      f"{row['arena_bytes']:,}" if row["arena_bytes"] is not None else "-",
                      f"{row['peak_rss_kib'] / 1024:.1f}")
    print_table(console, table)
    for runtime, reason in result["skipped"].items():
        console.print(f"skipped {runtime}: {reason}", highlight=False, soft_wrap=True)
