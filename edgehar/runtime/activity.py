"""What a label says about the wearer's activity, for models that also output transitions.

A model may output, besides the activities, HAPT's postural transitions (``STAND_TO_SIT``, ...,
:data:`edgehar.spec.POSTURAL_TRANSITIONS`) or one ``TRANSITION`` class. Its label is then not
always an activity; the activity it stands for is

- a postural transition's destination posture (``STAND_TO_SIT`` -> ``SITTING``: the wearer is
  on the way there), when that posture is one of the model's classes;
- for ``TRANSITION`` (or a transition whose destination is no class), the activity the same
  stream said last: the wearer has not arrived anywhere yet. At a stream's start there is none:
  then the window's most probable activity class;
- any other class: itself.
"""

from __future__ import annotations

import numpy as np

from edgehar.errors import EdgeharError
from edgehar.spec import POSTURAL_TRANSITIONS, activity_of

TRANSITION = "TRANSITION"
"""The class name of a model's one class for every postural transition."""


def is_transition(name: str) -> bool:
    return name == TRANSITION or name in POSTURAL_TRANSITIONS


def activity_classes(classes) -> tuple[str, ...]:
    """The classes that are activities (not transitions), in the model's order."""
    return tuple(name for name in classes if not is_transition(name))


class ActivityLabels:
    """The activity of each of one stream's labels, in stream order (see the module doc);
    :meth:`reset` where the stream starts again (after a gap)."""

    def __init__(self, classes):
        self.classes = tuple(classes)
        self.activities = activity_classes(self.classes)
        if not self.activities:
            raise EdgeharError(f"no activity among the classes {list(self.classes)}")
        self._activity_mask = np.array([not is_transition(c) for c in self.classes])
        self._destination = {name: activity_of(name) for name in self.classes
                             if name in POSTURAL_TRANSITIONS and activity_of(name) in self.classes}
        self.reset()

    def reset(self) -> None:
        self._last: str | None = None

    def of(self, label: str, probs) -> str:
        """The activity ``label`` stands for; ``probs`` (the window's class probabilities) decide
        only for a bare transition at the stream's start."""
        if not is_transition(label):
            activity = label
        elif label in self._destination:
            activity = self._destination[label]
        elif self._last is not None:
            activity = self._last
        else:
            masked = np.where(self._activity_mask, np.asarray(probs, dtype=np.float64), -np.inf)
            activity = self.classes[int(np.argmax(masked))]
        self._last = activity
        return activity
