"""C arrays and constants: bytes and numbers survive the trip through a C compiler exactly."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from edgehar.export.carrays import c_double, c_float, model_data_sources, render
from edgehar.preprocess.pipeline import Pipeline


def test_model_array_holds_the_bytes_in_order():
    data = bytes(range(256)) * 3 + b"\x00\xff\x10"  # not a multiple of a line
    source = model_data_sources(data, "b", "int8")["src/model_data.cpp"]
    body = source[source.index("g_model_data[] = {"):source.index("};")]
    assert bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", body)) == data
    assert f"g_model_data_len = {len(data)};" in source
    assert "alignas(16) const unsigned char g_model_data[]" in source


def test_number_literals_read_back_exactly_in_c(tmp_path):
    pipeline = Pipeline.preset("causal9", noise_cutoff_hz=20.0)
    doubles = np.concatenate([pipeline.gravity_sos().ravel(), pipeline.noise_sos().ravel(), [50.0]])
    floats = np.random.default_rng(0).normal(scale=[1e-6, 1e-3, 1.0, 1e3], size=(8, 4)).ravel()
    (tmp_path / "numbers.c").write_text(
        "#include <stdio.h>\n"
        f"static const double d[] = {{{', '.join(c_double(v) for v in doubles)}}};\n"
        f"static const float f[] = {{{', '.join(c_float(v) for v in floats)}}};\n"
        "int main(void) {\n"
        "  for (unsigned i = 0; i < sizeof d / sizeof d[0]; ++i) printf(\"%a\\n\", d[i]);\n"
        "  for (unsigned i = 0; i < sizeof f / sizeof f[0]; ++i) printf(\"%a\\n\", (double)f[i]);\n"
        "}\n")
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(tmp_path / "numbers"),
                    str(tmp_path / "numbers.c")], check=True)
    out = subprocess.run([str(tmp_path / "numbers")], capture_output=True, text=True, check=True).stdout
    read = [float.fromhex(line) for line in out.split()]
    assert read[:len(doubles)] == doubles.tolist()
    assert read[len(doubles):] == floats.astype(np.float32).astype(np.float64).tolist()


def test_a_template_value_left_out_is_an_error():
    with pytest.raises(KeyError, match="model_bytes"):
        render("src/model_data.cpp", bundle_name="b", variant="int8", model_len=0)
