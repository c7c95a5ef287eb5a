"""Record the SHA-256 of a bundle's artifacts in its metadata.json, for bundles made before
edgehar recorded them (``edgehar train`` and ``edgehar export`` record them themselves).

Only do this for a bundle you trust as it is: from then on every load checks the artifacts
against these checksums. metadata.json gains the ``sha256`` field and is otherwise unchanged.

    python tools/record_checksums.py models/lstm100 [more bundles...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edgehar import atomic
from edgehar.bundle import ARTIFACT_PATTERNS, sha256_of
from edgehar.metadata import read_metadata


def record_checksums(bundle: Path) -> dict[str, str]:
    """Add ``sha256`` for every artifact present in ``bundle`` and return it."""
    metadata, _ = read_metadata(bundle / "metadata.json")  # the schema must hold first
    artifacts = sorted(p for pattern in ARTIFACT_PATTERNS for p in bundle.glob(pattern))
    metadata["sha256"] = {p.name: sha256_of(p) for p in artifacts}
    atomic.write_text(bundle / "metadata.json", json.dumps(metadata, indent=2) + "\n")
    return metadata["sha256"]


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        sums = record_checksums(Path(folder))
        print(f"{folder}: recorded {', '.join(sums)}")
