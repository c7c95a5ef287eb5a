"""The causal temporal decoder: a hidden Markov model over the model's window posteriors.

Hidden states are the model's classes, then (when the model has no such outputs) HAPT's
postural transitions between postures it does have (``STAND_TO_SIT`` ...). A window's
emission likelihood of state ``s`` is ``emission[s] @ (max(p, floor) / class_prior) ** w``:
the model's posterior divided by the class prior it was trained with (as in the capture24
HMM), a class state reading its own class, an added transition state the mean of its two
postures; an emission weight ``w`` below 1 (1 by default) trusts a single window less.
The forward filter runs in float64, normalised each window; with a lag of L windows, each
update returns the fixed-lag smoothed estimate of the window L updates ago (or of the
stream's first window, until L windows have come).

The label reported is the most probable model class of ``report.T @ state_probs``: a class
state reports its class, an added transition state its destination posture (the wearer is
on the way there); a model trained with transition outputs reports the transition's name.

The duration decoder (``--smooth hsmm``, :func:`edgehar.runtime.hmm_fit.with_durations`) is
the same algorithm over more states: each state above becomes a chain of sub-states, so that an
activity, once entered, lasts a minimum number of windows (an expanded-state hidden semi-Markov
model). Its first ``len(classes)`` states are still named after the model's classes (each chain's
first sub-state); the chains' further sub-states follow, named ``NAME.2``, ``NAME.3``, ...

The parameters live in the bundle's ``metadata.json`` under ``"decoder"`` (kind ``hmm``) and
``"duration_decoder"`` (kind ``hsmm``) (see :meth:`HmmParams.to_metadata`);
:mod:`edgehar.runtime.hmm_fit` estimates them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import islice

import numpy as np

from edgehar.bundle import Bundle
from edgehar.errors import BundleError

KIND = "hmm"
KINDS = {"hmm": "decoder", "hsmm": "duration_decoder"}
"""Decoder kind (the ``--smooth`` spec's name) -> its key in metadata.json."""
MATRICES = ("transition", "initial", "class_prior", "emission", "report")


@dataclass(frozen=True)
class HmmParams:
    """S states over K model classes: ``transition`` (S, S), rows = from; ``initial`` (S,);
    ``class_prior`` (K,); ``emission`` and ``report`` (S, K); windows ``hop`` samples apart;
    ``emission_weight`` the exponent of the likelihood ratios; ``kind`` one of :data:`KINDS`."""

    states: tuple[str, ...]
    transition: np.ndarray
    initial: np.ndarray
    class_prior: np.ndarray
    emission: np.ndarray
    report: np.ndarray
    floor: float
    emission_weight: float
    window: int
    hop: int
    source: dict
    kind: str = KIND

    def __post_init__(self):
        S, K = len(self.states), len(self.class_prior)
        shapes = {"transition": (S, S), "initial": (S,), "class_prior": (K,), "emission": (S, K),
                  "report": (S, K)}
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value.shape != shape or not np.isfinite(value).all() or (value < 0).any():
                raise BundleError(f"decoder {name}: expected {shape} finite non-negative numbers, "
                                  f"got shape {value.shape}")
        if not np.allclose(self.transition.sum(axis=1), 1) or not np.isclose(self.initial.sum(), 1):
            raise BundleError("decoder: transition rows and initial must each sum to 1")
        if (self.emission.sum(axis=1) <= 0).any() or (self.class_prior <= 0).any() or not 0 < self.floor < 1 \
                or not self.emission_weight > 0:
            raise BundleError("decoder: every state needs an emission, every class a positive prior, "
                              "0 < floor < 1 and emission_weight > 0")

    @property
    def classes(self) -> tuple[str, ...]:
        return self.states[:len(self.class_prior)]

    def to_metadata(self) -> dict:
        """The ``"decoder"`` value of metadata.json."""
        return {"kind": self.kind, "states": list(self.states),
                **{name: getattr(self, name).tolist() for name in MATRICES},
                "floor": self.floor, "emission_weight": self.emission_weight, "window": self.window,
                "hop": self.hop, "source": self.source}

    @classmethod
    def from_metadata(cls, value: dict, classes: tuple[str, ...], where: str, kind: str = KIND) -> HmmParams:
        """Read a decoder value of ``kind``; BundleError naming ``where`` if it does not fit ``classes``."""
        try:
            if value["kind"] != kind:
                raise BundleError(f"{where}: decoder kind {value['kind']!r} is not {kind!r}")
            params = cls(states=tuple(value["states"]),
                         **{name: np.asarray(value[name], dtype=np.float64) for name in MATRICES},
                         floor=float(value["floor"]), emission_weight=float(value["emission_weight"]),
                         window=int(value["window"]), hop=int(value["hop"]),
                         source=dict(value.get("source", {})), kind=kind)
        except (KeyError, TypeError, ValueError) as err:
            raise BundleError(f"{where}: malformed decoder ({type(err).__name__}: {err})") from None
        except BundleError as err:
            raise BundleError(f"{where}: {err}") from None
        if params.classes != tuple(classes):
            raise BundleError(f"{where}: decoder states start with {list(params.classes)}, "
                              f"the model's classes are {list(classes)}")
        return params

    @classmethod
    def passthrough(cls, classes: tuple[str, ...], window: int, hop: int) -> HmmParams:
        """A decoder that keeps nothing between windows: it reports the most probable class."""
        K = len(classes)
        return cls(states=tuple(classes), transition=np.full((K, K), 1 / K), initial=np.full(K, 1 / K),
                   class_prior=np.full(K, 1 / K), emission=np.eye(K), report=np.eye(K),
                   floor=1e-4, emission_weight=1.0, window=window, hop=hop, source={})

    @classmethod
    def from_bundle(cls, bundle: Bundle, kind: str = KIND) -> HmmParams:
        """The bundle's decoder of ``kind`` (``hmm`` or ``hsmm``)."""
        if KINDS[kind] not in bundle.metadata:
            raise BundleError(f"{bundle.path}: the bundle has no decoder for --smooth {kind}; add one with "
                              f"`edgehar decoder {bundle.path} --hapt HAPT/RawData`")
        return cls.from_metadata(bundle.metadata[KINDS[kind]], bundle.classes,
                                 str(bundle.path / "metadata.json"), kind)


class HmmDecoder:
    """Forward filter (``lag`` 0) or fixed-lag smoother over window posteriors; a smoother
    for :class:`edgehar.runtime.stream.Streamer` (``update``, ``reset``, ``spec``)."""

    def __init__(self, params: HmmParams, lag: int = 0):
        if lag < 0:
            raise ValueError("lag must be >= 0")
        self.params, self.lag, self.hop = params, lag, params.hop
        self.spec = params.kind + (f":{lag}" if lag else "") + (f"@{params.emission_weight:g}"
                                                                  if params.emission_weight != 1 else "")
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next window starts from the initial distribution."""
        self._filtered: deque[np.ndarray] = deque(maxlen=self.lag + 1)
        self._emissions: deque[np.ndarray] = deque(maxlen=self.lag + 1)
        self.state_probs = self.class_probs = None

    def likelihoods(self, probs: np.ndarray) -> np.ndarray:
        """Emission likelihood (S,) of each state for one window's posterior (K,)."""
        p = self.params
        ratio = np.maximum(probs, p.floor, dtype=np.float64)
        ratio /= p.class_prior
        if p.emission_weight != 1:  # (x ** 1 is x: skipped)
            ratio **= p.emission_weight
        return p.emission.dot(ratio)  # (the same BLAS product as @, without matmul's overhead)

    def update(self, probs: np.ndarray) -> int:
        """Take one window's posterior; return the reported class index (see the module doc)."""
        p = self.params
        emission = self.likelihoods(probs)
        filtered = (p.initial if not self._filtered else self._filtered[-1].dot(p.transition)) * emission
        filtered /= np.add.reduce(filtered)
        self._filtered.append(filtered)
        self._emissions.append(emission)
        backward = None  # all ones: the first product skips multiplying by it
        for later in islice(reversed(self._emissions), len(self._emissions) - 1):
            backward = p.transition.dot(later if backward is None else later * backward)
            backward /= np.add.reduce(backward)
        smoothed = self._filtered[0] if backward is None else self._filtered[0] * backward
        self.state_probs = smoothed / np.add.reduce(smoothed)
        self.class_probs = self.state_probs.dot(p.report)
        return int(self.class_probs.argmax())
