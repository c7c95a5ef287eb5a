"""The package data, here because it depends on models/DEFAULT (the rest is in pyproject.toml).

The wheel carries the model that models/DEFAULT names as edgehar/models/, with only what
`edgehar stream`, `validate` and `bench` read: metadata, model card and the .tflite variants
(not the Keras model, the firmware or the reports). models/ stays the one copy in the repository.
"""

from pathlib import Path

from setuptools import setup

STREAMING_FILES = ("metadata.json", "README.md", "model_*.tflite")

default = (Path(__file__).parent / "models" / "DEFAULT").read_text().strip()
setup(package_data={
    "edgehar": ["demo/*.csv.gz", "demo/*.md"],
    "edgehar.services.web": ["static/*"],
    "edgehar.firmware_export": ["*.c", "Makefile", "README.md", "CMakeLists.txt", "idf_component.yml",
                                "src/*", "tflm/*", "zephyr/*", "examples/*/*", "templates/**/*.in"],
    "edgehar.models": ["DEFAULT", *(f"{default}/{name}" for name in STREAMING_FILES)],
})
