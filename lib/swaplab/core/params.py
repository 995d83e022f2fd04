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

import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping, NoReturn

from swaplab.core import paths


@dataclass
class Parameters:
    """Base of the stage configs (``CollectConfig``, ``AlignConfig``, ``TrainConfig``, ``SwapJob``, ``EvalConfig``)."""

    @classmethod
    def from_parameters(cls, params: Mapping):
        """A config from a notebook's parameters (``globals()``): NAME -> name for every init field present.

        A field that is itself a config (``SwapJob.options``) is built from the same parameters.
        """
        hints = typing.get_type_hints(cls)
        values = {}
        for f in fields(cls):
            kind = hints.get(f.name)
            if f.init and isinstance(kind, type) and issubclass(kind, Parameters):
                values[f.name] = kind.from_parameters(params)
            elif f.init and f.name.upper() in params:
                values[f.name] = params[f.name.upper()]
        return cls(**values)

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

    def check_flags(self, *names: str) -> None:
        """Each field must be True or False (not 1, not "yes")."""
        for name in names:
            if not isinstance(getattr(self, name), bool):
                self.bad(name, "must be True or False")

    def check_folders(self, **what: str) -> None:
        """Each named field must be a non-empty path; ``what[name]`` says which folder, for the error."""
        for name, folder in what.items():
            value = getattr(self, name)
            if not isinstance(value, (str, Path)) or not str(value):
                self.bad(name, f"give {folder}")

    def check_number(self, name: str, low: float, high: float | None = None, why: str = "", above: bool = False) -> None:
        """The field must be a number (not a bool) >= low (> low with ``above``), and <= high if given."""
        value = getattr(self, name)
        ok = not isinstance(value, bool) and isinstance(value, (int, float))
        ok = ok and (value > low if above else value >= low) and (high is None or value <= high)
        if not ok:
            span = f"between {low:g} and {high:g}" if high is not None else f"a number {'>' if above else '>='} {low:g}"
            self.bad(name, f"must be {span}" + (f" ({why})" if why else ""))

    def check_whole(self, name: str, low: int = 1, high: int | None = None, why: str = "") -> None:
        """The field must be a whole number in [low, high]."""
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"in {low}..{high}"
            self.bad(name, f"must be a whole number {span}" + (f" ({why})" if why else ""))
