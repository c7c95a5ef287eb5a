"""Build a firmware package against TensorFlow Lite Micro's C++ sources, with the package's CMake.

The sources are three folders under one root (the layout of ``../shared/third_party``):
``tflite-micro-tree/`` (made by TFLM's ``create_tflm_tree.py``), ``tflite-micro-cmsis-nn-kernels/``
(TFLM's ``kernels/cmsis_nn/``) and ``cmsis-nn/`` (ARM's CMSIS-NN). A kernel set is
``reference`` or ``cmsis-nn`` (CMSIS-NN's portable C path on a host without an Arm core).

TFLM's core library is compiled once per cache folder; the model's kernels once per kernel
list and kernel set; each package build then only compiles the package.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgehar.errors import ExportError

KERNEL_SETS = ("reference", "cmsis-nn")
TFLM_SOURCES_ENV = "EDGEHAR_TFLM_SOURCES"
BUILD_CACHE_ENV = "EDGEHAR_TFLM_BUILD_CACHE"
"""A folder where TFLM's libraries are kept between runs (otherwise a temporary one)."""
OPT_FLAGS = "-O2 -DNDEBUG"


@dataclass(frozen=True)
class TflmSources:
    """The TFLM tree, TFLM's CMSIS-NN kernels and CMSIS-NN, under ``root``."""

    root: Path

    @property
    def tree(self) -> Path:
        return self.root / "tflite-micro-tree"

    @property
    def cmsis_nn_kernels(self) -> Path:
        return self.root / "tflite-micro-cmsis-nn-kernels" / "tensorflow/lite/micro/kernels/cmsis_nn"

    @property
    def cmsis_nn(self) -> Path:
        return self.root / "cmsis-nn"

    def missing(self) -> list[Path]:
        """The folders that are not there (empty when all are)."""
        wanted = (self.tree / "tensorflow" / "lite" / "micro" / "micro_interpreter.h",
                  self.cmsis_nn_kernels / "conv.cc", self.cmsis_nn / "Include" / "arm_nnfunctions.h")
        return [path for path in wanted if not path.exists()]

    @classmethod
    def at(cls, root: Path | str) -> TflmSources:
        """The sources under ``root``; ExportError naming what is missing."""
        sources = cls(Path(root).resolve())
        if missing := sources.missing():
            raise ExportError(f"{root} does not hold the TFLM sources: {missing[0]} is missing "
                              "(see tflm_build.py for the layout)")
        return sources

    def cmake_args(self, kernel_set: str) -> list[str]:
        if kernel_set not in KERNEL_SETS:
            raise ExportError(f"unknown kernel set {kernel_set!r}: choose from {', '.join(KERNEL_SETS)}")
        args = [f"-DEDGEHAR_TFLM_TREE={self.tree}"]
        if kernel_set == "cmsis-nn":
            args += [f"-DEDGEHAR_CMSIS_NN_KERNELS={self.cmsis_nn_kernels}",
                     f"-DEDGEHAR_CMSIS_NN={self.cmsis_nn}"]
        return args


def _run(command: list[str], what: str) -> str:
    """Run ``command``; its output, or ExportError with the output's end."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ExportError(f"{what} failed ({' '.join(command[:3])} ...):\n{tail}")
    return done.stdout + done.stderr


class HostBuilder:
    """Builds packages with CMake for one toolchain, caching TFLM's libraries in ``cache``."""

    def __init__(self, sources: TflmSources, cache: Path | str, cmake_args: tuple[str, ...] = (),
                 jobs: int | None = None):
        """``cache`` is used unless ``$EDGEHAR_TFLM_BUILD_CACHE`` names another folder;
        ``cmake_args`` (e.g. a toolchain file) get a cache of their own there."""
        if shutil.which("cmake") is None:
            raise ExportError("building firmware needs cmake on the PATH")
        self.sources = sources
        toolchain = hashlib.sha256(" ".join(cmake_args).encode()).hexdigest()[:8] if cmake_args else "host"
        self.cache = Path(os.environ.get(BUILD_CACHE_ENV) or cache) / toolchain
        self.jobs = str(jobs or os.cpu_count() or 1)
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        self.common = [*generator, "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_C_FLAGS_RELEASE={OPT_FLAGS}",
                       f"-DCMAKE_CXX_FLAGS_RELEASE={OPT_FLAGS}", *cmake_args]

    def _build(self, source: Path, build: Path, args: list[str], target: str, what: str) -> str:
        _run(["cmake", "-S", str(source), "-B", str(build), *self.common, *args], f"configuring {what}")
        return _run(["cmake", "--build", str(build), "--target", target, "-j", self.jobs], f"building {what}")

    def tflm_libraries(self, package: Path, kernel_set: str) -> list[str]:
        """CMake arguments importing TFLM's core and ``package``'s kernels, built if not cached."""
        args = self.sources.cmake_args(kernel_set)
        core = self.cache / "core"
        if not (core / "libtflm_core.a").exists():
            self._build(package / "tflm", core, args[:1], "tflm_core", "TFLM's core")
        args.append(f"-DEDGEHAR_TFLM_CORE_LIB={core / 'libtflm_core.a'}")
        kernel_list = (package / "tflm" / "tflm_kernels.cmake").read_text().splitlines()[-1]
        key = hashlib.sha256(f"{kernel_set} {kernel_list}".encode()).hexdigest()[:12]
        kernels = self.cache / f"kernels-{kernel_set}-{key}"
        if not (kernels / "libtflm_kernels.a").exists():
            self._build(package / "tflm", kernels, args, "tflm_kernels", f"TFLM's {kernel_set} kernels")
        return [*args, f"-DEDGEHAR_TFLM_KERNELS_LIB={kernels / 'libtflm_kernels.a'}"]

    def build(self, project: Path | str, package: Path | str, kernel_set: str, build: Path | str,
              target: str, args: tuple[str, ...] = (), build_type: str = "Release") -> str:
        """Build ``target`` of the CMake ``project`` (the package itself, or one that adds it
        with add_subdirectory) in ``build``, with TFLM for ``package``; the compiler's output."""
        package = Path(package)
        tflm = self.tflm_libraries(package, kernel_set)
        return self._build(Path(project), Path(build), [*tflm, f"-DCMAKE_BUILD_TYPE={build_type}", *args],
                           target, f"{package.name} ({kernel_set})")

    def build_host(self, package: Path | str, kernel_set: str, build: Path | str,
                   arena_size: int | None = None) -> tuple[Path, str]:
        """Build ``package``'s library and host example in ``build``: the example's path and
        the compiler's output. ``arena_size`` overrides the package's ``EDGEHAR_ARENA_SIZE``."""
        args = ["-DEDGEHAR_BUILD_HOST_EXAMPLE=ON"]
        if arena_size is not None:
            args.append(f"-DCMAKE_CXX_FLAGS=-DEDGEHAR_ARENA_SIZE={arena_size}")
        log = self.build(package, package, kernel_set, build, "edgehar_host", tuple(args))
        return Path(build) / "edgehar_host", log


def host_arena_used(host: Path | str) -> int:
    """Arena bytes the host example's model uses (its first output line, with no samples)."""
    done = subprocess.run([str(host)], input="", capture_output=True, text=True)
    first = done.stdout.split()
    if done.returncode != 0 or first[:1] != ["arena"]:
        raise ExportError(f"{host} did not start: {(done.stdout + done.stderr).strip()[-300:]}")
    return int(first[1])
