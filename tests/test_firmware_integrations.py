"""The firmware package as the Arduino and Zephyr build systems would take it.

arduino-cli, its cores and the Zephyr SDK cannot be installed here (they download their own
toolchains), so their rules are applied as their sources and documentation state them:

- Arduino (arduino-cli's builder): the sketch becomes ``.ino.cpp`` with ``#include <Arduino.h>``
  first; each ``#include <X>`` of the sketch is resolved to the installed library whose
  ``src/`` holds X; a 1.5-format library (``library.properties`` + ``src/``) has every
  ``.c``, ``.cpp`` and ``.S`` file under ``src/`` compiled, recursively (older builders
  ignore ``.cc``: TFLM's own Arduino library renames its sources ``.cpp``); a library
  cannot pass compiler flags. The core is approximated by gcc/g++ with the flags of
  Arduino's ARM cores (``-std=gnu11``, ``-std=gnu++17 -fno-rtti -fno-exceptions
  -fno-threadsafe-statics``, ``-DARDUINO=10819``) and an ``Arduino.h`` standing in for the
  parts of the core the sketch uses (``Serial`` reads stdin); the board's TFLM library is
  the TFLM tree of ../shared/third_party, linked as a precompiled library. The sketch must
  link on its own and print the host example's labels.
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
SOURCE_EXTENSIONS = (".c", ".cpp", ".S")
"""What arduino-cli's builder compiles in a library's src/ (and all Arduino builders before it)."""
ARDUINO_DEFINES = ["-DARDUINO=10819", "-DARDUINO_ARCH_HOST"]
ARDUINO_C = ["gcc", "-c", "-std=gnu11", "-Os", "-Wall", "-Wextra", "-Werror", *ARDUINO_DEFINES]
ARDUINO_CXX = ["g++", "-c", "-std=gnu++17", "-Os", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics",
               "-Wall", "-Wextra", "-Werror", *ARDUINO_DEFINES]
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
TFLM_LIBRARY_H = "#pragma once\n// The board's TensorFlow Lite Micro library (here: the TFLM tree, built).\n"


def tflm_include_dirs(tree) -> list[str]:
    """Where the TFLM library's includes resolve (its Arduino port rewrites them into src/);
    system headers: -Wextra -Werror judge the package's code, not TFLM's."""
    return [f"-isystem{tree / d}" for d in (".", "third_party/flatbuffers/include", "third_party/gemmlowp",
                                            "third_party/ruy", "third_party/kissfft")]


@pytest.fixture(scope="module")
def sketchbook(tmp_path_factory):
    """A sketchbook with the package installed as a library and the board's TFLM library."""
    root = tmp_path_factory.mktemp("sketchbook")
    name = re.search(r"^name=(.*)$", (PACKAGE / "library.properties").read_text(), re.M).group(1)
    shutil.copytree(PACKAGE, root / "libraries" / name)
    tflm_library = root / "libraries" / "Arduino_TensorFlowLite" / "src"
    tflm_library.mkdir(parents=True)
    (tflm_library / "TensorFlowLite.h").write_text(TFLM_LIBRARY_H)
    (root / "core").mkdir()
    (root / "core" / "Arduino.h").write_text(ARDUINO_H)
    (root / "core" / "core.cpp").write_text(CORE_CPP)
    return root, root / "libraries" / name


def resolve_libraries(sketch_text: str, libraries) -> dict[str, str]:
    """Header -> library folder, for the sketch's #include <...> that a library's src/ holds."""
    found = {}
    for header in re.findall(r"^\s*#include\s*<([^>]+)>", sketch_text, re.M):
        for library in sorted(libraries.iterdir()):
            if (library / "src" / header).is_file():
                found[header] = library.name
    return found


def test_the_package_is_an_arduino_library_whose_example_links_on_its_own_and_labels_as_the_host(
        sketchbook, builder, host_build, test_segments, tflm_sources, tmp_path):  # noqa: F811
    root, library = sketchbook
    manifest = (library / "library.properties").read_text()
    properties = dict(line.split("=", 1) for line in manifest.splitlines())
    assert properties["depends"] == "Arduino_TensorFlowLite" and properties["includes"] == "edgehar.h"
    sketch = library / "examples" / "EdgeharArduino" / "EdgeharArduino.ino"
    ino_cpp = tmp_path / "EdgeharArduino.ino.cpp"
    ino_cpp.write_text(f'#include <Arduino.h>\n#line 1 "{sketch}"\n{sketch.read_text()}')

    resolved = resolve_libraries(sketch.read_text(), root / "libraries")
    assert resolved == {"TensorFlowLite.h": "Arduino_TensorFlowLite", "edgehar.h": library.name}
    sources = sorted(p for p in (library / "src").rglob("*") if p.suffix in SOURCE_EXTENSIONS)
    c_family = sorted(p for p in (library / "src").rglob("*") if p.suffix in (".c", ".cc", ".cxx", ".cpp"))
    assert sources == c_family and len(sources) >= 8  # nothing an Arduino builder would leave out

    includes = [f"-I{root / 'core'}", f"-I{library / 'src'}",
                f"-I{root / 'libraries' / 'Arduino_TensorFlowLite' / 'src'}",
                *tflm_include_dirs(tflm_sources.tree)]
    objects = []
    for source in [ino_cpp, *sources, root / "core" / "core.cpp"]:
        compiler = ARDUINO_C if source.suffix == ".c" else ARDUINO_CXX
        objects.append(tmp_path / f"{source.name}.o")
        subprocess.run([*compiler, *includes, str(source), "-o", str(objects[-1])], check=True)
    tflm = dict(arg.removeprefix("-D").split("=", 1) for arg in builder.tflm_libraries(library, "reference"))
    subprocess.run(["g++", *map(str, objects), tflm["EDGEHAR_TFLM_KERNELS_LIB"],
                    tflm["EDGEHAR_TFLM_CORE_LIB"],
                    "-lm", "-o", str(tmp_path / "sketch")], check=True)

    text = samples_text(test_segments[:3]).replace("gap\n", "")
    run = subprocess.run([str(tmp_path / "sketch")], input=text, capture_output=True, text=True, check=True)
    printed = [line for line in run.stderr.splitlines() if " -> " in line]  # MicroPrintf: stderr on a host
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
