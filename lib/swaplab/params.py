"""One pattern for every stage's settings: a dataclass that a notebook fills from its parameters cell.

    CONFIG = train.TrainConfig.from_parameters(globals()).validate()

``from_parameters`` maps the notebook's UPPER_CASE parameters onto the dataclass's
lower_case fields (PERSON_A -> person_a); names that are not fields are ignored and
fields with no parameter keep their defaults, so the same class serves a notebook, a
script and a test. ``validate()`` checks every field before any slow work and raises a
one-line error that names the PARAMETER and says what to do; it returns the config,
with what it resolved on the way (paths, the input's probe) in its ``init=False``
fields. A notebook's checking cell is that one call.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping, NoReturn

from . import paths


@dataclass
class Parameters:
    """Base of the stage configs (``CollectConfig``, ``AlignConfig``, ``TrainConfig``, ``SwapJob``, ``EvalConfig``)."""

    @classmethod
    def from_parameters(cls, params: Mapping):
        """A config from a notebook's parameters (``globals()``): NAME -> name for every init field present."""
        return cls(**{f.name: params[f.name.upper()] for f in fields(cls) if f.init and f.name.upper() in params})

    def validate(self):
        """Check every field (subclasses extend this); returns ``self``."""
        return self

    def bad(self, name: str, why: str, error: type[Exception] = ValueError) -> NoReturn:
        """Raise ``error`` as ``NAME=value: why``."""
        raise error(f"{name.upper()}={getattr(self, name)!r}: {why}")

    def check_names(self, *names: str) -> None:
        """Each field must be a safe folder name (``paths.check_name``)."""
        for name in names:
            paths.check_name(getattr(self, name), name.upper())

    def check_whole(self, name: str, low: int = 1, high: int | None = None, why: str = "") -> None:
        """The field must be a whole number in [low, high]."""
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"in {low}..{high}"
            self.bad(name, f"must be a whole number {span}" + (f" ({why})" if why else ""))
