"""The model families by name and the training recipe of each (no TensorFlow: the CLI reads it)."""

from edgehar.errors import OptionError

DEFAULTS = {
    "lstm": dict(epochs=15, batch_size=32, pipeline="dataset9", normalize=False),
    "cnn": dict(epochs=10, batch_size=64, pipeline="dataset9", normalize=False),
    "dscnn": dict(epochs=100, batch_size=64, pipeline="raw6", normalize=True, augment=True,
                  cosine=True),
    "convlstm": dict(epochs=60, batch_size=64, pipeline="raw6", normalize=True, augment=True,
                     cosine=True),
}
"""Training recipe of each family when the command line does not override it."""

FAMILIES = tuple(DEFAULTS)


def recipe(family: str) -> dict:
    """The family's default recipe; an unknown family is an OptionError naming the known ones."""
    if family not in DEFAULTS:
        raise OptionError(f"--model {family!r}: choose from {', '.join(FAMILIES)}")
    return DEFAULTS[family]
