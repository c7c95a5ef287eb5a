"""An I2C IMU on the Raspberry Pi (MPU-6050 family or LSM6DS3 family) polled at 50 Hz via smbus2.

The chip is recognised by its WHO_AM_I register, configured to ±2 g and ±500 °/s, and its
raw counts are scaled to g and rad/s. Timestamps are the host's monotonic clock: the
stream resamples them onto the exact 50 Hz grid.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgehar.errors import SourceError
from edgehar.runtime.sources import Chunk, SourceStopped
from edgehar.spec import SAMPLE_RATE_HZ

DPS = math.pi / 180.0


@dataclass(frozen=True)
class Chip:
    """What edgehar needs to know about one IMU family."""

    name: str
    who_am_i_register: int
    who_am_i: tuple[int, ...]
    setup: tuple[tuple[int, int], ...]
    """(register, value) writes: wake up, 50 Hz or faster, ±2 g, ±500 °/s."""
    data_register: int
    block_size: int
    dtype: str
    """Of the int16 counts in the data block: '>i2' big-endian, '<i2' little-endian."""
    acc_at: int
    gyro_at: int
    """Positions of the x counts of acceleration and angular velocity in the block."""
    acc_g_per_count: float
    gyro_rads_per_count: float

    def decode(self, block: bytes) -> np.ndarray:
        """The chip's data block -> ax, ay, az (g), gx, gy, gz (rad/s)."""
        counts = np.frombuffer(bytes(block[:self.block_size]), dtype=self.dtype).astype(np.float64)
        return np.concatenate([counts[self.acc_at:self.acc_at + 3] * self.acc_g_per_count,
                               counts[self.gyro_at:self.gyro_at + 3] * self.gyro_rads_per_count])


CHIPS = (
    # Block from ACCEL_XOUT_H: ax ay az temp gx gy gz; ±2 g = 16384 counts/g, ±500 °/s = 65.5 counts/(°/s).
    Chip("MPU-6050", 0x75, (0x68, 0x70, 0x71, 0x73),
         setup=((0x6B, 0x00), (0x19, 19), (0x1A, 0x03), (0x1B, 0x08), (0x1C, 0x00)),
         data_register=0x3B, block_size=14, dtype=">i2", acc_at=0, gyro_at=4,
         acc_g_per_count=1 / 16384, gyro_rads_per_count=DPS / 65.5),
    # Block from OUTX_L_G: gx gy gz ax ay az; ±2 g = 0.061 mg/count, ±500 °/s = 17.5 m°/s per count.
    Chip("LSM6DS3", 0x0F, (0x69, 0x6A, 0x6C),
         setup=((0x12, 0x04), (0x10, 0x40), (0x11, 0x44)),
         data_register=0x22, block_size=12, dtype="<i2", acc_at=3, gyro_at=0,
         acc_g_per_count=0.061e-3, gyro_rads_per_count=17.5e-3 * DPS),
)
DEFAULT_ADDRESSES = (0x68, 0x69, 0x6A, 0x6B)


def parse_imu_spec(arg: str) -> tuple[int, int | None]:
    """'i2c-1' or 'i2c-1@0x68' -> (bus number, address or None to probe the usual ones)."""
    bus, _, address = arg.partition("@")
    if not bus.startswith("i2c-") or not bus[4:].isdigit():
        raise SourceError(f"imu:{arg}: expected imu:i2c-BUS[@ADDR], e.g. imu:i2c-1@0x68")
    try:
        return int(bus[4:]), int(address, 0) if address else None
    except ValueError:
        raise SourceError(f"imu:{arg}: address {address!r} is not a number like 0x68") from None


def probe(bus, addresses) -> tuple[Chip, int]:
    """The first known chip answering WHO_AM_I at one of ``addresses``."""
    for address in addresses:
        for chip in CHIPS:
            try:
                who = bus.read_byte_data(address, chip.who_am_i_register)
            except OSError:
                continue
            if who in chip.who_am_i:
                return chip, address
    tried = ", ".join(f"0x{a:02x}" for a in addresses)
    raise SourceError(f"no MPU-6050 or LSM6DS3 IMU answers on the I2C bus at {tried}: "
                      "check the wiring and `i2cdetect -y BUS`")


def iter_imu(bus_number: int, address: int | None = None, *, timeout: float = 5.0,
             rate_hz: float = SAMPLE_RATE_HZ) -> Iterator[Chunk]:
    """Poll the IMU at ``rate_hz``; the bus and chip are opened and checked when called."""
    device = Path(f"/dev/i2c-{bus_number}")
    if not device.exists():
        raise SourceError(f"no I2C bus {device}: enable I2C (raspi-config > Interface Options > I2C) "
                          "or pick the right bus with imu:i2c-N")
    from smbus2 import SMBus

    try:
        bus = SMBus(bus_number)
    except OSError as err:
        raise SourceError(f"cannot open {device}: {err.strerror or err}") from err
    try:
        chip, address = probe(bus, (address,) if address is not None else DEFAULT_ADDRESSES)
        for register, value in chip.setup:
            bus.write_byte_data(address, register, value)
    except (OSError, SourceError):
        bus.close()
        raise

    def poll() -> Iterator[Chunk]:
        period, t0 = 1.0 / rate_hz, time.monotonic()
        last_ok, tick = t0, 0
        with bus:
            while True:
                delay = t0 + tick * period - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                tick += 1
                now = time.monotonic()
                try:
                    block = bus.read_i2c_block_data(address, chip.data_register, chip.block_size)
                except OSError as err:
                    if now - last_ok > timeout:
                        raise SourceStopped("disconnected", f"{chip.name} on {device}: {err}") from None
                    continue
                last_ok = now
                yield Chunk(np.array([now - t0]), chip.decode(block)[None, :])

    return poll()
