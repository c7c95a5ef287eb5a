"""Is a model sure of anything? A model trained for a few epochs outputs nearly the same
probability for every class; exporting or decoding it gives labels that mean nothing."""

from __future__ import annotations

import numpy as np


def mean_confidence(probs) -> float:
    """Mean over windows of the top class's probability."""
    return float(np.asarray(probs).max(axis=1).mean())


def undertrained_warning(name: str, confidence: float | None, classes: int) -> str | None:
    """A warning line when the mean top probability lies below halfway between uniform outputs
    (1 / classes) and certainty (1); None when it does not, or is not known."""
    if confidence is None or confidence >= (1 + 1 / classes) / 2:
        return None
    return (f"warning: {name}'s outputs are close to uniform (mean top probability {confidence:.2f} over "
            f"{classes} classes, {1 / classes:.2f} for uniform outputs): it looks undertrained, so its "
            "labels mean little; train it for more epochs")
