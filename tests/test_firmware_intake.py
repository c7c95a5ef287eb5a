"""The firmware's sample intake (edgehar_intake.c, C11 atomics) with intake and inference on
two threads, as an IMU drain task on a second core and the main loop: built with
ThreadSanitizer from the MCU default's shipped package by its own Makefile, it must report no
data race, return only windows equal row for row to a single-threaded reference, and refuse a
window as soon as the sample that overwrites its oldest row may be being written."""

from __future__ import annotations

import re
import shutil
import subprocess

from conftest import REPO

from edgehar.bundle import Bundle

MCU_DEFAULT = (REPO / "models" / "DEFAULT_MCU").read_text().strip()
TSAN = "-fsanitize=thread"
SAMPLES = 100_000
GAP_EVERY = 997


def test_two_threads_through_the_intake_under_thread_sanitizer(tmp_path):
    package = tmp_path / "firmware"
    shutil.copytree(REPO / "models" / MCU_DEFAULT / "firmware", package)
    cflags = f"CFLAGS=-std=c11 -O1 -g -Wall -Wextra -Werror {TSAN}"
    subprocess.run(["make", "-C", str(package), "CC=gcc", cflags, f"LDFLAGS={TSAN}", "intake_test"],
                   check=True, capture_output=True)
    run = subprocess.run([str(package / "intake_test"), str(SAMPLES)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0 and "ThreadSanitizer" not in run.stderr, run.stderr[-3000:]
    counts = {key: int(value) for key, value in zip(*[iter(run.stdout.split())] * 2, strict=True)}
    bundle = Bundle.load(REPO / "models" / MCU_DEFAULT)
    segments = [GAP_EVERY] * (SAMPLES // GAP_EVERY) + [SAMPLES % GAP_EVERY]  # a gap every 997 samples
    windows = sum((n - bundle.window) // bundle.hop + 1 for n in segments if n >= bundle.window)
    assert counts["windows"] == windows
    assert counts["taken"] > 100  # and every one equal to the reference (else exit 1)


def test_make_check_runs_the_intake_test(tmp_path):
    package = tmp_path / "firmware"
    shutil.copytree(REPO / "models" / MCU_DEFAULT / "firmware", package)
    done = subprocess.run(["make", "-C", str(package), "CC=gcc", "check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^windows \d+ taken \d+", done.stdout, re.M)
