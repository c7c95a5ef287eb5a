"""`edgehar` commands of this stage."""

from edgehar.cli.app import app  # noqa: F401
