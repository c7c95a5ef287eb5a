"""The largest values a real IMU reports: beyond them a sample is impossible and is dropped.

Consumer IMUs top out at ±16 g and ±2000 °/s; the defaults add half again as margin. A
bundle may set its own in ``metadata.json`` (``"sample_limits": {"acc_g": 24, "gyro_dps":
3000}``) and ``edgehar stream --max-acc/--max-gyro`` overrides both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from edgehar.bundle import Bundle
from edgehar.errors import BundleError, EdgeharError

ACC_G = 24.0
GYRO_DPS = 3000.0


@dataclass(frozen=True)
class SampleLimits:
    """|acceleration| per axis in g and |angular velocity| per axis in °/s."""

    acc_g: float = ACC_G
    gyro_dps: float = GYRO_DPS

    def __post_init__(self):
        for name, value in (("acceleration", self.acc_g), ("angular velocity", self.gyro_dps)):
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value) or value <= 0:
                raise EdgeharError(f"the {name} limit must be a positive number, not {value!r}")

    @classmethod
    def of_bundle(cls, bundle: Bundle, acc_g: float | None = None, gyro_dps: float | None = None
                  ) -> SampleLimits:
        """The bundle's ``sample_limits`` (defaults where absent), overridden by those given here."""
        where = bundle.path / "metadata.json"
        given = bundle.metadata.get("sample_limits", {})
        if not isinstance(given, dict) or set(given) - {"acc_g", "gyro_dps"}:
            raise BundleError(f"{where}: sample_limits must be {{\"acc_g\": G, \"gyro_dps\": DPS}}, "
                              f"got {str(given)[:80]}")
        try:
            limits = cls(**given)
        except EdgeharError as err:
            raise BundleError(f"{where}: sample_limits: {err}") from None
        overrides = {"acc_g": acc_g, "gyro_dps": gyro_dps}
        return replace(limits, **{key: value for key, value in overrides.items() if value is not None})

    def bounds(self) -> np.ndarray:
        """Per raw column (ax, ay, az in g; gx, gy, gz in rad/s) the largest |value| allowed."""
        return np.array([self.acc_g] * 3 + [math.radians(self.gyro_dps)] * 3)
