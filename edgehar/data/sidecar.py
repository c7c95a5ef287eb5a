"""A recording's sidecar ``NAME.json`` (format ``edgehar.recording/1``): read and checked.

Kept apart from :mod:`edgehar.data.recordings` (which needs pandas) so that the live sources
can honour a replayed recording's units with the runtime install alone.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from edgehar.errors import DataError, excerpt
from edgehar.files import FileRefused, read_limited
from edgehar.spec import ACC_UNITS, GYRO_UNITS, RECORDING_FORMAT, SAMPLE_RATE_HZ

MAX_SIDECAR_BYTES = 1 << 20


def recording_stem(path: Path) -> str:
    """``NAME`` of ``NAME.csv`` / ``NAME.csv.gz``."""
    name = Path(path).name
    return name.removesuffix(".gz").removesuffix(".csv")


def sidecar_path(csv_path: Path) -> Path:
    return Path(csv_path).with_name(recording_stem(csv_path) + ".json")


def read_sidecar(path: Path) -> dict:
    """The checked sidecar ``path`` ({} when absent): rate_hz, units, subject and session filled in."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(read_limited(path, MAX_SIDECAR_BYTES).decode("utf-8"))
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    except RecursionError:
        raise DataError(f"{path}: invalid JSON: nested too deeply") from None
    except ValueError as err:  # an integer of over 4,300 digits
        raise DataError(f"{path}: invalid JSON ({str(err)[:80]})") from None
    except FileRefused as err:
        raise DataError(str(err)) from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: a JSON object is needed, not {type(data).__name__}")

    def fail(key: str, message: str):
        raise DataError(f"{path}: field {key}: {excerpt(data_at(key))} {message}")

    def data_at(key: str):
        value = data
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    if "format" in data and data["format"] != RECORDING_FORMAT:
        fail("format", f"is not {RECORDING_FORMAT!r}")
    rate = data.get("rate_hz", SAMPLE_RATE_HZ)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= 0:
        fail("rate_hz", "is not a positive number")
    if rate != SAMPLE_RATE_HZ:
        fail("rate_hz", f"is not {SAMPLE_RATE_HZ:g}: edgehar's filters and windows are designed at "
                        f"{SAMPLE_RATE_HZ:g} Hz; resample the recording first")
    units = data.get("units", {})
    if not isinstance(units, dict):
        fail("units", 'is not an object like {"acc": "g", "gyro": "rads"}')
    for key, allowed in (("acc", ACC_UNITS), ("gyro", GYRO_UNITS)):
        value = units.get(key, next(iter(allowed)))
        if not isinstance(value, str) or value not in allowed:
            fail(f"units.{key}", f"is not one of {', '.join(allowed)}")
    for key in ("subject", "session"):
        value = data.get(key, "")
        if isinstance(value, bool) or not isinstance(value, str | int):
            fail(key, "is not a string")
        if not re.fullmatch(r"[^\x00-\x1f\x7f]{0,128}", str(value)):
            fail(key, "is not one printable line of at most 128 characters")
    return {**data, "rate_hz": float(rate),
            "units": {"acc": units.get("acc", "g"), "gyro": units.get("gyro", "rads")},
            "subject": str(data.get("subject", "")), "session": str(data.get("session", ""))}
