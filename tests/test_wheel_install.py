"""The runtime install as a user gets it, by the commands of docs/raspberry-pi.md run as written:
the wheel built from this checkout, installed with no extras into a fresh virtual environment
(numpy, scipy, LiteRT... from pip's cache or the registry), used from a folder outside the
checkout. Takes about a minute."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from checkout import copy_checkout

REPO = Path(__file__).resolve().parent.parent
PI_PAGE = REPO / "docs" / "raspberry-pi.md"
STREAMING_FILES = {"metadata.json", "README.md", "model_float32.tflite", "model_float16.tflite",
                   "model_dynamic.tflite", "model_int8.tflite"}


def _page_commands() -> list[str]:
    """The command lines of the Pi page's blocks that this test runs, in order."""
    marker = r"<!-- test: tests/test_wheel_install.py[^>]*-->\n```bash\n(.*?)```"
    blocks = re.findall(marker, PI_PAGE.read_text(), re.S)
    assert len(blocks) == 2, "docs/raspberry-pi.md lost its wheel route"
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def _sh(command: str, cwd: Path, home: Path | None = None) -> subprocess.CompletedProcess:
    """``command`` in bash as a user types it, ``python3`` being this interpreter."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def _build_wheel(source: Path, out: Path) -> Path:
    build = _page_commands()[0]
    assert build.startswith("python3 -m pip wheel ")
    done = _sh(build, source)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (source / "dist").glob("edgehar-*.whl")
    out.mkdir(parents=True, exist_ok=True)
    return Path(shutil.move(wheel, out / wheel.name))


def _model_files(wheel: Path) -> set[str]:
    prefix = "edgehar/models/"
    return {n[len(prefix):] for n in zipfile.ZipFile(wheel).namelist() if n.startswith(prefix)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = copy_checkout(tmp_path_factory.mktemp("checkout"))
    return _build_wheel(source, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def runtime_env(wheel, tmp_path_factory) -> Path:
    """bin/ of a fresh virtual environment holding the wheel and its runtime dependencies only,
    installed in a home folder of its own by the Pi page's commands (the wheel copied there as
    `scp` would)."""
    _, copy, install, stream = _page_commands()
    assert copy.startswith(f"scp dist/{wheel.name} ")  # the page names the wheel the build makes
    home = tmp_path_factory.mktemp("pi-home")
    shutil.copy(wheel, home / wheel.name)
    done = _sh(install, home, home)
    assert done.returncode == 0, done.stderr[-2000:]
    done = _sh(stream, home, home)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1 + 224, done.stderr[-2000:]
    return home / "edgehar" / "bin"


def _edgehar(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / "edgehar"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_the_wheel_carries_the_default_models_streaming_files_only(wheel):
    default = (REPO / "models" / "DEFAULT").read_text().strip()
    assert _model_files(wheel) == {"DEFAULT", *(f"{default}/{name}" for name in STREAMING_FILES)}
    assert wheel.stat().st_size < 1_000_000


def test_the_wheel_carries_the_web_pages_and_their_vendored_chart_library(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    static = REPO / "edgehar" / "services" / "web" / "static"
    assert {f"edgehar/services/web/static/{p.name}" for p in static.iterdir()} <= names
    assert {f"edgehar/services/web/static/uPlot.{end}" for end in ("iife.min.js", "LICENSE")} <= names


def test_the_wheel_carries_whichever_bundle_models_default_names(tmp_path):
    source = copy_checkout(tmp_path / "checkout")
    (source / "models" / "DEFAULT").write_text("dscnn\n")
    files = _model_files(_build_wheel(source, tmp_path / "dist"))
    assert files == {"DEFAULT", *(f"dscnn/{name}" for name in STREAMING_FILES)}


def test_runtime_install_streams_the_demo_and_benches_without_tensorflow(runtime_env, tmp_path):
    assert subprocess.run([str(runtime_env / "python"), "-c", "import tensorflow"],
                          capture_output=True).returncode != 0
    stream = _edgehar(runtime_env, tmp_path, "stream", "--source", "demo")
    assert stream.returncode == 0, stream.stderr
    lines = stream.stdout.splitlines()
    assert "label" in lines[0] and len(lines) == 1 + 224
    summary = json.loads(stream.stderr.strip().splitlines()[-1])
    assert summary["model"] == (REPO / "models" / "DEFAULT").read_text().strip()
    assert summary["windows"] == 224 and summary["end"] == "eof"

    bench = _edgehar(runtime_env, tmp_path, "bench", "--windows", "20", "--json")
    assert bench.returncode == 0, bench.stderr
    report = json.loads(bench.stdout)
    assert [(r["variant"], r["runtime"]) for r in report["rows"]] == [
        (v, "litert") for v in ("float32", "float16", "dynamic", "int8")]
    assert set(report["skipped"]) == {"keras", "tflm"}
    assert not any(row["tensorflow_loaded"] for row in report["rows"])
    table = _edgehar(runtime_env, tmp_path, "bench", "--windows", "5")
    assert table.returncode == 0 and "skipped keras: TensorFlow is not installed" in table.stdout


def test_runtime_install_says_in_one_line_which_extras_to_install(runtime_env, tmp_path, small_data):
    uci_dir = small_data
    site = runtime_env.parent / "lib"
    bundle = next(site.glob("python*/site-packages/edgehar/models/*/metadata.json")).parent
    for args in (["train", "--model", "cnn", "--data", str(uci_dir)],
                 ["export", str(bundle), "--data", str(uci_dir)],
                 ["evaluate", str(bundle), "--data", str(uci_dir)],
                 ["evaluate", str(bundle), "--variant", "int8", "--data", str(uci_dir),
                  "--png", str(tmp_path / "cm.png")]):
        run = _edgehar(runtime_env, tmp_path, *args)
        assert run.returncode == 2, (args, run.stderr)
        assert len(run.stderr.strip().splitlines()) == 1, (args, run.stderr)
        assert 'pip install "edgehar[train]" && pip install --no-deps tf-keras' in run.stderr
    # Evaluating an exported variant needs no extra at all.
    run = _edgehar(runtime_env, tmp_path, "evaluate", str(bundle), "--variant", "int8",
                   "--data", str(uci_dir))
    assert run.returncode == 0, run.stderr
    assert f"on {len(range(0, 2947, 20))} windows: accuracy" in run.stdout
