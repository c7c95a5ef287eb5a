"""The MCU default's firmware (models/DEFAULT_MCU) on a Cortex-M4F: link it, size it, run it under QEMU.

    python tools/cortex_m4_qemu.py [--model models/NAME] [--segments 4]

Builds the shipped package with its own CMake file, TFLM and the CMSIS-NN kernels with
arm-none-eabi-gcc (-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard, -O2) into an image
for QEMU's mps2-an386 (tools/cortex_m4/: start-up, linker script, and a board file that plays
recorded samples as the IMU into the package's unchanged src/main.cpp), reports its flash and
static RAM (arm-none-eabi-size), runs it under `qemu-system-arm -M mps2-an386 -semihosting`
on the first stitched UCI HAR test segments of distinct activities, and compares the labels it
prints with those of the host build (x86-64, reference kernels) on the same samples.
Writes models/NAME/cortex_m4.json and adds its figures to export_report.json.
Needs: gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm, cmake, TFLM's sources.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgehar import atomic
from edgehar.bundle import Bundle
from edgehar.data.segments import stitch
from edgehar.data.uci import load_split
from edgehar.export.firmware import record_firmware
from edgehar.export.tflm_build import HostBuilder, TflmSources
from edgehar.spec import ACTIVITIES

REPO = Path(__file__).resolve().parent.parent
BOARD = REPO / "tools" / "cortex_m4"
CPU_FLAGS = "-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard -mthumb"
QEMU = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", "enable=on,target=native"]


def recorded_segments(uci: Path, count: int) -> list[tuple[str, np.ndarray]]:
    """The first ``count`` test segments of distinct activities, long enough for 3 windows."""
    chosen, seen = [], set()
    for segment in stitch(load_split(uci, "test")):
        label = ACTIVITIES[segment.label - 1]
        if label not in seen and len(segment.raw) >= 128 + 2 * 64:
            chosen.append((label, segment.raw.astype(np.float32)))
            seen.add(label)
        if len(chosen) == count:
            break
    return chosen


def recording_c(segments) -> str:
    """The samples as a C array; a row of NaN marks a gap (board.c returns false for it)."""
    rows = []
    for i, (_, raw) in enumerate(segments):
        if i:
            rows.append("  {NAN, NAN, NAN, NAN, NAN, NAN}")
        rows += ["  {" + ", ".join(f"{v!r}f" for v in map(float, row)) + "}" for row in raw]
    body = ",\n".join(rows)
    return ("#include <math.h>\n"
            f"const float edgehar_recording[][6] = {{\n{body}\n}};\n"
            f"const unsigned edgehar_recording_len = {len(rows)};\n")


def host_labels(builder: HostBuilder, package: Path, segments, work: Path, classes) -> list[str]:
    host, _ = builder.build_host(package, "reference", work / "host")
    text = "gap\n".join("".join(" ".join(repr(float(v)) for v in row) + "\n" for row in raw)
                        for _, raw in segments)
    out = subprocess.run([str(host)], input=text, capture_output=True, text=True, check=True).stdout
    return [classes[int(line.split()[2])] for line in out.splitlines() if line.startswith("W ")]


def size(elf: Path) -> dict[str, int]:
    berkeley = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True,
                              check=True).stdout
    text, data, bss = (int(v) for v in berkeley.splitlines()[1].split()[:3])
    symbols = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True,
                             check=True).stdout
    recording = int(re.search(r"^\w+ (\w+) \w edgehar_recording$", symbols, re.M).group(1), 16)
    return {"text": text, "data": data, "bss": bss, "flash_bytes": text + data, "ram_bytes": data + bss,
            "recording_bytes": recording, "flash_without_recording": text + data - recording}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = REPO / "models" / (REPO / "models" / "DEFAULT_MCU").read_text().strip()
    parser.add_argument("--model", type=Path, default=default)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "uci-har")
    parser.add_argument("--tflm-sources", type=Path, default=REPO.parent / "shared" / "third_party")
    args = parser.parse_args()

    bundle = Bundle.load(args.model)
    package = (bundle.path / "firmware").resolve()
    sources = TflmSources.at(args.tflm_sources)
    segments = recorded_segments(args.data, args.segments)
    with tempfile.TemporaryDirectory(prefix="edgehar-m4-") as tmp:
        work = Path(tmp)
        (work / "recording.c").write_text(recording_c(segments))
        arm = HostBuilder(sources, work / "cache", (f"-DCMAKE_TOOLCHAIN_FILE={BOARD / 'toolchain.cmake'}",))
        arm.build(BOARD, package, "cmsis-nn", work / "m4", "edgehar_m4.elf",
                  (f"-DEDGEHAR_PACKAGE={package}", f"-DEDGEHAR_RECORDING={work / 'recording.c'}"))
        elf = work / "m4" / "edgehar_m4.elf"
        sizes = size(elf)
        run = subprocess.run([*QEMU, "-kernel", str(elf)], capture_output=True, text=True, timeout=600)
        printed = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
        qemu_labels = [line.split()[0] for line in printed if re.fullmatch(r"\w+ \d+% -> \w+", line)]
        expected = host_labels(HostBuilder(sources, work / "cache"), package, segments, work, bundle.classes)
        compiler = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True).stdout
        qemu = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True).stdout
    result = {
        "model": bundle.name, "target": "Cortex-M4F (QEMU mps2-an386)", "kernels": "cmsis-nn",
        "compiler": compiler.splitlines()[0], "flags": f"{CPU_FLAGS} -O2", "qemu": qemu.splitlines()[0],
        **sizes,
        "segments": [label for label, _ in segments], "samples": sum(len(raw) for _, raw in segments),
        "qemu_exit_code": run.returncode, "qemu_labels": qemu_labels, "host_labels": expected,
        "labels_match": qemu_labels == expected and run.returncode == 0,
    }
    atomic.write_json(bundle.path / "cortex_m4.json", result)
    summary = ("target", "kernels", "flags", "flash_bytes", "ram_bytes", "flash_without_recording",
               "labels_match")
    record_firmware(bundle, {"cortex_m4": {key: result[key] for key in summary}})
    print(json.dumps(result, indent=1))
    sys.exit(0 if result["labels_match"] else 1)


if __name__ == "__main__":
    main()
