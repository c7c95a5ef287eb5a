"""Record the SHA-256 of a bundle's artifacts and of its label-deciding metadata fields in its
metadata.json, for bundles made before edgehar recorded them (``edgehar train`` and ``edgehar
export`` record them themselves).

Only do this for a bundle you trust as it is: from then on every load checks the artifacts and
those fields against these checksums. metadata.json gains the ``sha256`` and ``labels_sha256``
fields and is otherwise unchanged.

    python tools/record_checksums.py models/lstm100 [more bundles...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edgehar import atomic
from edgehar.bundle import ARTIFACT_PATTERNS, sha256_of
from edgehar.errors import BundleError
from edgehar.metadata import read_metadata, seal


def record_checksums(bundle: Path) -> dict[str, str]:
    """Add ``sha256`` for every artifact present in ``bundle`` and ``labels_sha256``; return the former."""
    path = bundle / "metadata.json"
    try:
        read_metadata(path)  # the schema must hold first
    except BundleError as err:
        if "field labels_sha256" not in str(err):
            raise
    metadata = json.loads(path.read_text())
    artifacts = sorted(p for pattern in ARTIFACT_PATTERNS for p in bundle.glob(pattern))
    metadata["sha256"] = {p.name: sha256_of(p) for p in artifacts}
    atomic.write_text(path, json.dumps(seal(metadata), indent=2) + "\n")
    return metadata["sha256"]


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        sums = record_checksums(Path(folder))
        print(f"{folder}: recorded {', '.join(sums)}")
