"""The fixed facts every stage agrees on: classes, channels, units, rates and window geometry."""

import math
import re

ACTIVITIES = (
    "WALKING",
    "WALKING_UPSTAIRS",
    "WALKING_DOWNSTAIRS",
    "SITTING",
    "STANDING",
    "LAYING",
)
"""Class names as in the dataset's activity_labels.txt; label k (1..6) is ACTIVITIES[k - 1]."""

POSTURAL_TRANSITIONS = {
    "STAND_TO_SIT": ("STANDING", "SITTING"),
    "SIT_TO_STAND": ("SITTING", "STANDING"),
    "SIT_TO_LIE": ("SITTING", "LAYING"),
    "LIE_TO_SIT": ("LAYING", "SITTING"),
    "STAND_TO_LIE": ("STANDING", "LAYING"),
    "LIE_TO_STAND": ("LAYING", "STANDING"),
}
"""HAPT's postural transitions (labels 7..12, in order): name -> (posture before, posture after)."""

HAPT_ACTIVITIES = ACTIVITIES + tuple(POSTURAL_TRANSITIONS)
"""HAPT label k (1..12) is HAPT_ACTIVITIES[k - 1]."""


def activity_of(name: str) -> str:
    """The activity a class stands for: a postural transition's destination posture, else itself."""
    return POSTURAL_TRANSITIONS[name][1] if name in POSTURAL_TRANSITIONS else name

UCI_CHANNELS = (
    "body_acc_x", "body_acc_y", "body_acc_z",
    "body_gyro_x", "body_gyro_y", "body_gyro_z",
    "total_acc_x", "total_acc_y", "total_acc_z",
)
"""The 9 UCI HAR channels, in the order every array in edgehar uses."""

RAW_COLUMNS = ("ax", "ay", "az", "gx", "gy", "gz")
"""What an IMU delivers: total acceleration in g, angular velocity in rad/s."""

STANDARD_GRAVITY = 9.80665
ACC_UNITS = {"g": 1.0, "ms2": 1.0 / STANDARD_GRAVITY}
GYRO_UNITS = {"rads": 1.0, "dps": math.pi / 180.0}
"""Factors that turn each unit a source or recording may use into edgehar's (g, rad/s)."""

SAMPLE_RATE_HZ = 50.0
WINDOW = 128
HOP = 64

RECORDING_FORMAT = "edgehar.recording/1"
"""Recordings (NAME.csv + sidecar NAME.json): what `edgehar record` writes and
edgehar.data.recordings reads."""
LABEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
"""What a label, class, subject or session name may be (case-sensitive): it fits a CSV field and
a file name."""


def class_of_label(classes, members=None) -> dict[str, int]:
    """Label -> 0-based index into ``classes``: a class takes the labels its class map gives it
    (``members``: class -> labels; default: its own name) and also its own name, unless another
    class takes that name as a label. Case-sensitive. The one rule by which ``stream``,
    ``evaluate``, ``validate``, ``train``, ``decoder`` and ``finetune`` label recordings."""
    members = members or {}
    table = {label: k for k, c in enumerate(classes) for label in members.get(c, (c,))}
    for k, c in enumerate(classes):
        table.setdefault(c, k)
    return table
