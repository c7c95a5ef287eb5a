"""The firmware package as the Arduino and Zephyr build systems would take it.

arduino-cli, its Cortex-M cores and the Zephyr SDK cannot be installed here (they download their own
toolchains), so:

- Arduino: Arduino's own builder (Debian's ``arduino-builder``, the code arduino-cli's build was
  taken from) compiles the package's example sketch from the library folder: it turns the sketch
  into ``.ino.cpp`` (``#include <Arduino.h>``, prototypes from ctags), finds the libraries from its
  ``#include``s, compiles every source a 1.5-format library has under ``src/`` (a library cannot pass
  compiler flags), archives the core and links. The board is a small platform of the test's own
  (``hardware/edgehar/host``): gcc/g++ with the flags of Arduino's ARM cores (``-std=gnu11``,
  ``-std=gnu++17 -fno-rtti -fno-exceptions -fno-threadsafe-statics``) plus ``-Wall -Wextra -Werror``,
  and a core standing in for the parts of the Arduino API the sketch uses (``Serial`` reads stdin).
  The board's TFLM library is a header-only library whose archives (the TFLM tree of
  ../shared/third_party, built) the platform links. The sketch must link on its own and print the
  host example's labels.
- Zephyr (its tflite-micro sample and lib/cpp/Kconfig): C++17 (Zephyr's default is C++11),
  the full C and C++ libraries, ``-fno-threadsafe-statics``: the module's sources, with the
  module's flags, compile for a Cortex-M4 with arm-none-eabi and newlib, and not as C++14.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import REPO
from test_firmware_tflm import (  # noqa: F401  (fixtures)
    SHIPPED,
    builder,
    host_build,
    run_host,
    samples_text,
    test_segments,
    tflm_sources,
)

from edgehar.bundle import Bundle

PACKAGE = REPO / "models" / SHIPPED[0] / "firmware"
PLATFORM_TXT = "\n".join([
    "name=edgehar host board (tests)",
    "version=1.0.0",
    "compiler.c.flags=-c -Os -std=gnu11 -Wall -Wextra -Werror -MMD",
    "compiler.cpp.flags=-c -Os -std=gnu++17 -fno-rtti -fno-exceptions -fno-threadsafe-statics "
    "-Wall -Wextra -Werror -MMD",
    "compiler.defines=-DARDUINO={runtime.ide.version} -DARDUINO_{build.board} -DARDUINO_ARCH_{build.arch}",
    "edgehar.tflm_includes=",
    "edgehar.tflm_libs=",
    'recipe.c.o.pattern=gcc {compiler.c.flags} {compiler.defines} {includes} {edgehar.tflm_includes} '
    '"{source_file}" -o "{object_file}"',
    'recipe.cpp.o.pattern=g++ {compiler.cpp.flags} {compiler.defines} {includes} {edgehar.tflm_includes} '
    '"{source_file}" -o "{object_file}"',
    'recipe.S.o.pattern=gcc -c -x assembler-with-cpp -MMD {compiler.defines} {includes} "{source_file}" '
    '-o "{object_file}"',
    "archive_file_path={build.path}/{archive_file}",
    'recipe.ar.pattern=gcc-ar rcs "{archive_file_path}" "{object_file}"',
    'recipe.c.combine.pattern=g++ -o "{build.path}/{build.project_name}.elf" {object_files} '
    '"{build.path}/{archive_file}" {edgehar.tflm_libs} -lm',
    'recipe.size.pattern=size -A "{build.path}/{build.project_name}.elf"',
    "recipe.size.regex=^(?:\\.text|\\.data)\\s+([0-9]+).*",
    "preproc.includes.flags=-w -x c++ -M -MG -MP",
    "recipe.preproc.includes=g++ {compiler.cpp.flags} {preproc.includes.flags} {compiler.defines} {includes} "
    '{edgehar.tflm_includes} "{source_file}"',
    "preproc.macros.flags=-w -x c++ -E -CC",
    "recipe.preproc.macros=g++ {compiler.cpp.flags} {preproc.macros.flags} {compiler.defines} {includes} "
    '{edgehar.tflm_includes} "{source_file}" -o "{preprocessed_file_path}"',
]) + "\n"
"""The host board's platform.txt: Arduino's recipes with the host's gcc and g++ (one line each: the
format has no continuation lines)."""
BOARDS_TXT = """host.name=edgehar host board (x86-64, Serial on stdin)
host.build.board=EDGEHAR_HOST
host.build.core=host
"""
ARDUINO_H = """#pragma once
// Stands in for the Arduino core: the parts of its API the sketch uses; Serial reads stdin.
#include <stddef.h>
class SerialPort {
 public:
  void begin(unsigned long) {}
  size_t readBytesUntil(char terminator, char *buffer, size_t length);
};
extern SerialPort Serial;
"""
CORE_CPP = """#include <Arduino.h>
#include <cstdio>
#include <cstdlib>
SerialPort Serial;
size_t SerialPort::readBytesUntil(char terminator, char *buffer, size_t length) {
  size_t n = 0;
  for (int c; n < length && (c = std::getchar()) != terminator; ++n) {
    if (c == EOF) std::exit(0);  // the recording is over: the board is switched off
    buffer[n] = static_cast<char>(c);
  }
  return n;
}
void setup();
void loop();
int main() {  // Arduino's main.cpp
  setup();
  for (;;) loop();
}
"""
TFLM_LIBRARY_PROPERTIES = """name=Arduino_TensorFlowLite
version=0.0.0
author=TensorFlow Authors
maintainer=edgehar tests
sentence=Stands in for the board's TFLM library: its headers; the platform links its archives.
paragraph=
category=Data Processing
url=https://github.com/tensorflow/tflite-micro
architectures=*
"""
TFLM_LIBRARY_H = "#pragma once\n// The board's TensorFlow Lite Micro library (here: the TFLM tree, built).\n"


def tflm_include_dirs(tree) -> list[str]:
    """Where the TFLM library's includes resolve (its Arduino port rewrites them into src/);
    system headers: -Wextra -Werror judge the package's code, not TFLM's."""
    return [f"-isystem{tree / d}" for d in (".", "third_party/flatbuffers/include", "third_party/gemmlowp",
                                            "third_party/ruy", "third_party/kissfft")]


@pytest.fixture(scope="module")
def sketchbook(tmp_path_factory):
    """Arduino's folders: the host board's platform, the package installed as a library and the
    board's TFLM library."""
    root = tmp_path_factory.mktemp("sketchbook").resolve()
    name = re.search(r"^name=(.*)$", (PACKAGE / "library.properties").read_text(), re.M).group(1)
    shutil.copytree(PACKAGE, root / "libraries" / name)
    tflm_library = root / "libraries" / "Arduino_TensorFlowLite"
    (tflm_library / "src").mkdir(parents=True)
    (tflm_library / "library.properties").write_text(TFLM_LIBRARY_PROPERTIES)
    (tflm_library / "src" / "TensorFlowLite.h").write_text(TFLM_LIBRARY_H)
    platform = root / "hardware" / "edgehar" / "host"
    (platform / "cores" / "host").mkdir(parents=True)
    (platform / "platform.txt").write_text(PLATFORM_TXT)
    (platform / "boards.txt").write_text(BOARDS_TXT)
    (platform / "cores" / "host" / "Arduino.h").write_text(ARDUINO_H)
    (platform / "cores" / "host" / "main.cpp").write_text(CORE_CPP)
    return root, root / "libraries" / name


def test_arduinos_builder_compiles_the_example_from_the_library_and_it_labels_as_the_host(
        sketchbook, builder, host_build, test_segments, tflm_sources, tmp_path):  # noqa: F811
    if shutil.which("arduino-builder") is None:
        pytest.skip("Arduino's builder is not installed (apt-get install arduino-builder)")
    root, library = sketchbook
    manifest = (library / "library.properties").read_text()
    properties = dict(line.split("=", 1) for line in manifest.splitlines())
    assert properties["depends"] == "Arduino_TensorFlowLite" and properties["includes"] == "edgehar.h"
    assert not [p for p in (library / "src").rglob("*") if p.suffix in (".cc", ".cxx")]  # not compiled

    tflm = dict(arg.removeprefix("-D").split("=", 1) for arg in builder.tflm_libraries(library, "reference"))
    includes = " ".join(tflm_include_dirs(tflm_sources.tree.resolve()))
    build = tmp_path / "build"
    build.mkdir()
    sketch = library / "examples" / "EdgeharArduino" / "EdgeharArduino.ino"
    builtin = "/usr/share/arduino-builder"  # the builder's own platform.txt: ctags
    run = subprocess.run(
        ["arduino-builder", "-compile", "-hardware", builtin, "-hardware", str(root / "hardware"),
         "-tools", builtin, "-libraries", str(root / "libraries"), "-fqbn", "edgehar:host:host",
         "-verbose", "-build-path", str(build), "-prefs", f"edgehar.tflm_includes={includes}",
         "-prefs", f"edgehar.tflm_libs={tflm['EDGEHAR_TFLM_KERNELS_LIB']} {tflm['EDGEHAR_TFLM_CORE_LIB']}",
         str(sketch)], capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout + run.stderr
    printed = run.stdout + run.stderr  # -verbose: the commands, then the libraries it used
    used = re.findall(r"^Using library (\S+) at version \S+ in folder: (\S+)", printed, re.M)
    tflm_library = root / "libraries" / "Arduino_TensorFlowLite"
    assert sorted(used) == sorted([(tflm_library.name, str(tflm_library)), (library.name, str(library))])
    compiled = sorted(p.name for p in (build / "libraries" / library.name).rglob("*.o"))
    sources = sorted(f"{p.name}.o" for p in (library / "src").rglob("*") if p.suffix in (".c", ".cpp"))
    assert compiled == sources and len(sources) >= 8  # every source of src/, nothing left out

    text = samples_text(test_segments[:3]).replace("gap\n", "")
    out = subprocess.run([str(build / "EdgeharArduino.ino.elf")], input=text, capture_output=True, text=True,
                         check=True)
    printed = [line for line in out.stderr.splitlines() if " -> " in line]  # MicroPrintf: stderr on a host
    classes = Bundle.load(PACKAGE.parent).classes
    _, _, scores, _ = run_host(host_build(SHIPPED[0], "reference")[0], text)
    assert [line.split()[0] for line in printed] == [classes[k] for k in scores.argmax(axis=1)]
    assert len(printed) > 20


def zephyr_module() -> tuple[list[str], list[str], str]:
    """(sources, compile definitions, C++ options) the module's CMakeLists.txt gives."""
    cmake = (PACKAGE / "zephyr" / "CMakeLists.txt").read_text()
    listed = re.search(r"zephyr_library_sources\(([^)]*)\)", cmake).group(1)
    sources = re.findall(r"\$\{src\}/(\S+)", listed)
    defines = re.search(r"zephyr_compile_definitions\(([^)]*)\)", cmake).group(1).split()
    options = re.search(r"zephyr_library_compile_options\((.*)\)\n", cmake).group(1)
    return sources, defines, options


CORTEX_M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2"]


def test_the_zephyr_module_compiles_as_cpp17_with_its_flags_for_a_cortex_m4(
        tflm_sources, tmp_path):  # noqa: F811
    if shutil.which("arm-none-eabi-g++") is None:
        pytest.skip("arm-none-eabi-g++ is not installed "
                    "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    sources, defines, options = zephyr_module()
    assert "edgehar.cpp" in sources and "edgehar_intake.c" in sources and len(sources) == 8
    assert defines == ["TF_LITE_STATIC_MEMORY", "EDGEHAR_NO_MAIN"]
    assert "no_threadsafe_statics" in options  # Zephyr's compiler property for -fno-threadsafe-statics
    kconfig = (PACKAGE / "zephyr" / "Kconfig").read_text()
    assert re.search(r"depends on CPP && \(STD_CPP17 ", kconfig) and "select REQUIRES_FULL_LIBCPP" in kconfig

    src = PACKAGE / "src"
    flags = [*CORTEX_M4, *(f"-D{d}" for d in defines), f"-I{src}", *tflm_include_dirs(tflm_sources.tree)]
    cxx = ["arm-none-eabi-g++", "-c", "-std=c++17", "-fno-threadsafe-statics", "-fno-rtti", "-fno-exceptions",
           "-Wall", "-Wextra", "-Werror", *flags]
    cc = ["arm-none-eabi-gcc", "-c", "-std=c11", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", *flags]
    for name in sources:
        compiler = cxx if name.endswith(".cpp") else cc
        subprocess.run([*compiler, str(src / name), "-o", str(tmp_path / f"{name}.o")], check=True)
    undefined = subprocess.run(["arm-none-eabi-nm", "-u", "-C", str(tmp_path / "edgehar.cpp.o")],
                               capture_output=True, text=True, check=True).stdout
    assert "__cxa_guard_acquire" not in undefined and "MicroInterpreter" in undefined

    cpp14 = subprocess.run([*cxx[:2], "-std=c++14", *cxx[3:], str(src / "edgehar.cpp"), "-o",
                            str(tmp_path / "cpp14.o")], capture_output=True, text=True)
    assert cpp14.returncode != 0  # Zephyr's default C++ standard would not do
