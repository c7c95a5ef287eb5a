"""`edgehar stream` (live labels from an IMU or a replayed recording) and `edgehar validate`.

Nothing here imports TensorFlow: these run on the Pi with LiteRT alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from edgehar.bundle import Bundle
from edgehar.cli.app import DataOption, RecordingsOption, app, count, on_command_line, progress
from edgehar.cli.http_options import HttpOption
from edgehar.cli.mqtt_options import DiscoveryOption, MqttBufferOption, MqttCaOption, PublishOption
from edgehar.cli.numbers import MAX_GAP, HopOption, number
from edgehar.cli.source_options import AccUnitOption, AxesOption, GyroUnitOption, TimeoutOption
from edgehar.errors import EdgeharError, OptionError
from edgehar.ranges import ACC_LIMIT_G, GYRO_LIMIT_DPS

ModelOption = Annotated[Path | None, typer.Option(
    "--model", help="Model bundle folder. Default: the bundle named by models/DEFAULT.")]
VariantOption = Annotated[str, typer.Option(
    "--variant", help="Exported model to run: int8 (what devices run), float32, float16 or dynamic.")]


def _bundle(model: Path | None) -> Bundle:
    return Bundle.load(model) if model else Bundle.default()


BLOCK_LINES = 64
"""Result lines written at once when nobody waits for each (a replay at ``--speed max``)."""

EXIT_CODES = {"timeout": 1, "disconnected": 1, "error": 2, "interrupted": 130, "terminated": 143}
"""Exit status by how the stream ended; 'eof' and 'output_closed' exit 0."""


class CtrlC:
    """SIGINT while `stream` runs: the first stops the stream (a KeyboardInterrupt, which ``run``
    turns into the summary's 'interrupted'); a later one stops waiting while the last MQTT messages
    drain, and otherwise is held back, as the summary comes at once, and lets any further one end
    the process at once. So a quick second Ctrl-C never loses the summary. Nothing changes where
    SIGINT is ignored (a shell's background job)."""

    def __init__(self):
        self.count, self.draining = 0, False
        self.installed = signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if self.installed:
            signal.signal(signal.SIGINT, self._handle)

    def done(self) -> None:
        """The summary is out: a further Ctrl-C ends the process at once, with no traceback
        (``edgehar.cli.run_command`` puts back the handler it found)."""
        if self.installed:
            signal.signal(signal.SIGINT, signal.SIG_DFL)

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.count == 1 or self.draining:
            raise KeyboardInterrupt
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    def drain(self, close):
        """``close(drain_s)``, interruptible by Ctrl-C; no wait at all after a second one."""
        self.draining = True
        try:
            return close(0.0 if self.count > 1 else 10.0)
        finally:
            self.draining = False


@app.command()
def stream(
    source: Annotated[str, typer.Option(
        "--source", help="demo, csv:PATH (- = stdin), hapt:ACC_FILE, serial:DEVICE or serial:DEVICE@BAUD, "
        "udp:HOST:PORT, imu:i2c-BUS or imu:i2c-BUS@ADDR. Text lines are t,ax,ay,az,gx,gy,gz, after an "
        "optional header (required in files) that may add a label column: accuracy against it.")],
    model: ModelOption = None,
    variant: VariantOption = "int8",
    hop: HopOption = None,
    smooth: Annotated[str | None, typer.Option(
        help="none, vote:K, ema:A, hysteresis[:N[:P]], hmm[:LAG][@W] or hsmm[:LAG][@W] (the bundle's "
        "decoder or duration decoder, LAG windows behind, emission weight W). Default: the bundle's "
        "choice (metadata 'smoothing'), else none.")] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per window.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write results here instead of stdout.")] = None,
    speed: Annotated[str, typer.Option(
        help="Replay files at 'max' speed or in 'realtime' (pauses over 10 s are not waited).")] = "max",
    timeout: TimeoutOption = 5.0,
    max_gap: Annotated[float, number(*MAX_GAP, above=True,
        help="A pause longer than this (s) restarts the window and the filters.")] = 0.1,
    acc_unit: AccUnitOption = None,
    gyro_unit: GyroUnitOption = None,
    axes: AxesOption = "x,y,z",
    max_acc: Annotated[float | None, number(ACC_LIMIT_G,
        help="Drop samples with |acceleration| above this on any axis (g). Default: the bundle's, "
        "else 24.")] = None,
    max_gyro: Annotated[float | None, number(GYRO_LIMIT_DPS,
        help="Drop samples with |angular velocity| above this on any axis (°/s). Default: the "
        "bundle's, else 3000.")] = None,
    publish: PublishOption = None,
    mqtt_ca: MqttCaOption = None,
    mqtt_buffer: MqttBufferOption = 10_000,
    discovery_prefix: DiscoveryOption = "homeassistant",
    http: HttpOption = None,
) -> None:
    """Classify a live 50 Hz IMU stream (or a replayed recording), one line per window.

    Exit status: 0 at the end of the input, 1 when a live source goes silent or away, 2 for
    bad input (an error line and the summary), 130 on Ctrl-C, 143 on SIGTERM."""
    from edgehar.runtime.limits import SampleLimits
    from edgehar.runtime.smoothing import make_smoother
    from edgehar.runtime.sources import is_live, open_source, queues, resolve_units
    from edgehar.runtime.stream import Result, Streamer, Terminated, run

    bundle = _bundle(model)
    acc_unit, gyro_unit = resolve_units(source, acc_unit, gyro_unit)
    smoother = make_smoother(smooth or bundle.smoothing, bundle)
    streamer = Streamer.from_bundle(bundle, variant, hop=hop, smoother=smoother,
                                    max_gap_s=max_gap,
                                    limits=SampleLimits.of_bundle(bundle, acc_g=max_acc, gyro_dps=max_gyro))
    chunks = open_source(source, speed=speed, timeout=timeout, acc_unit=acc_unit, gyro_unit=gyro_unit,
                         axes=axes)
    if publish:
        from edgehar.services.mqtt import open_publisher

        publisher, conn = open_publisher(publish, bundle.classes, bundle.name, ca_file=mqtt_ca,
                                         buffer=mqtt_buffer, discovery_prefix=discovery_prefix)
    if http:
        from edgehar.services.web.app import serve_live

        live, web = serve_live(http, bundle, title=f"edgehar stream {source}", hop=streamer.hop)
        chunks = live.tap(chunks)
    try:
        sink = out.open("w") if out else sys.stdout
    except OSError as err:
        raise EdgeharError(f"--out {out}: cannot write ({err.strerror or err})") from None

    flush_each = is_live(source) or speed != "max"  # someone waits for each line; else write in blocks
    held: list[str] = []
    """Lines not written yet: without ``flush`` they go BLOCK_LINES at a time (one write per line
    is a system call per line where stdout is unbuffered, as with PYTHONUNBUFFERED)."""

    def write(line: str | None, flush: bool = True) -> None:
        """Write ``line`` (None: nothing) and, with ``flush``, all held lines and flush; a full
        disk is one error line."""
        try:
            if line is not None:
                held.append(line)
            if held and (flush or len(held) >= BLOCK_LINES):
                sink.write("\n".join(held) + "\n")
                held.clear()
            if flush:
                sink.flush()
        except BrokenPipeError:
            raise
        except OSError as err:  # --out on a full disk (or /dev/full)
            where = f"--out {out}" if out else "stdout"
            raise EdgeharError(f"{where}: cannot write ({err.strerror or err})") from None

    def emit(result):
        write(result.to_json() if jsonl else result.to_text(), flush_each)
        if publish:
            publisher.publish(result)
        if http:
            live.result(result, streamer.summary("running"))

    def terminate(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, terminate)
    ctrl_c = CtrlC()
    try:
        if not jsonl:
            write(Result.TEXT_HEADER)
        summary = run(streamer, chunks, emit, idle_timeout=timeout if is_live(source) else None,
                      queued=queues(source))
        if summary["end"] != "output_closed":
            try:
                write(None)
            except BrokenPipeError:
                summary["end"] = "output_closed"
        if http:
            live.end(summary)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if out:
            with contextlib.suppress(OSError):  # what could not be written was said already
                sink.close()
        if http:
            web.close()
    if publish:
        summary["mqtt"] = {**publisher.counts(), **ctrl_c.drain(
            lambda drain_s: conn.close(last=(publisher.availability, "offline"), drain_s=drain_s))}
    if summary["end"] == "output_closed":  # e.g. `| head`: nothing more may go to stdout
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if summary["end"] == "error":
        print(f"error: {summary['detail']}", file=sys.stderr)
    print(json.dumps({"model": bundle.name, "variant": variant, **summary}), file=sys.stderr)
    ctrl_c.done()
    if summary["end"] in EXIT_CODES:
        raise typer.Exit(EXIT_CODES[summary["end"]])


@app.command()
def validate(
    ctx: typer.Context,
    model: ModelOption = None,
    data: DataOption = None,
    variant: VariantOption = "int8",
    hapt: Annotated[Path | None, typer.Option(
        help="HAPT RawData folder: also score whole real recordings, with and without smoothing.")] = None,
    recordings: RecordingsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Replay the UCI HAR test split through the live runtime, sample by sample, and check it
    against the labels and against offline batch predictions of the same model.

    --recordings DIR: instead stream each labelled recording sample by sample at the bundle's hop
    and score it live (accuracy, macro-F1, recall per class, label changes per minute against the
    true rate, detection delay) with each smoothing the bundle supports; no UCI HAR needed."""
    from edgehar.scoring.validate import validate_hapt, validate_test_split

    if recordings is not None and (hapt is not None or on_command_line(ctx, "data")):
        raise OptionError("--recordings replaces the test split and --hapt: give --recordings alone "
                          "(a HAPT RawData folder is a folder of recordings too)")
    bundle = _bundle(model)
    if recordings is not None:
        _validate_recordings(bundle, recordings, variant, as_json)
        return
    from edgehar.data.locate import resolve_data
    from edgehar.data.uci import load_split

    test = load_split(resolve_data(data), "test")
    with progress("streaming the test split") as step:
        report = {"model": bundle.name, **validate_test_split(bundle, test, variant, progress=step)}
    if hapt:
        with progress("streaming HAPT recordings") as step:
            report["hapt"] = validate_hapt(bundle, hapt, variant, progress=step)
    if as_json:
        print(json.dumps(report))
        return
    print(f"{report['model']} ({variant}): {report['windows']} test windows streamed sample by sample")
    print(f"  accuracy {report['accuracy']:.4f} (offline {report['offline_accuracy']:.4f}), "
          f"agreement with offline {report['agreement']:.4f}")
    if hapt:
        h = report["hapt"]
        print(f"  HAPT: {h['experiments']} recordings, {h['minutes']} min, {h['activity_windows']} activity "
              f"windows, {h['transition_windows']} touching transitions (not scored); "
              f"subjects {h['subjects']} (held out only if the model never trained on them)")
        for spec, r in h["smoothing"].items():
            print(f"    {spec:<18} accuracy {r['accuracy']:.4f}  flips/min {r['flips_per_minute']}")


def _validate_recordings(bundle: Bundle, folder: Path, variant: str, as_json: bool) -> None:
    """``edgehar validate --recordings``: the report as one JSON object or a few lines."""
    from edgehar.data.labelled import labelled_recordings
    from edgehar.scoring.validate import validate_recordings

    recordings, class_map = labelled_recordings(bundle, folder)
    with progress("streaming recordings") as step:
        report = {"model": bundle.name, "data": str(folder), "classes": class_map.spec,
                  **validate_recordings(bundle, recordings, class_map, variant, progress=step)}
    if as_json:
        print(json.dumps(report))
        return
    agreement = "-" if report["agreement"] is None else f"{report['agreement']:.4f}"
    print(f"{report['model']} ({variant}) on {folder}: {count(report['recordings'], 'recording')}, "
          f"{report['minutes']} min, {report['windows']} windows streamed sample by sample; "
          f"{report['scored_windows']} inside one class scored, {report['transition_windows']} "
          "touching a transition or a label of no class")
    print(f"  agreement with offline batch {agreement} on {report['compared_windows']} windows")
    for spec, r in report["smoothing"].items():
        delay = "-" if r["delay_s_median"] is None else f"{r['delay_s_median']:.1f} s"
        print(f"    {spec:<18} accuracy {r['accuracy']:.4f}  macro-F1 {r['macro_f1']:.4f}  changes/min "
              f"{r['label_changes_per_minute']:.2f} (true {r['true_changes_per_minute']:.2f})  delay {delay}")
    print("  recall: " + ", ".join(f"{k} {v:.3f}" for k, v in report["smoothing"]["none"]["recall"].items()))
