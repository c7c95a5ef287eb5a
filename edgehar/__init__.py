"""edgehar: on-device human activity recognition, from UCI HAR to a Raspberry Pi or a microcontroller."""

__version__ = "0.1.0"
