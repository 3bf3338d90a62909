"""The VA methods. Each is a ``Method`` on the one trainer; this registry names them.

``register_method`` is the one way in: the command line (``ferlib train --method``), the
parameters (``method``, ``recipes:`` sections, a method's own ``<name>_…`` settings), the course
plan and the results tables all read the registry, so a new method is its module, its
``register_method`` line below, its notes and its chapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..data import FERData
from ..errors import UserError
from ..params import Parameter, add_method
from .avce import AVCE
from .base import Method, NonFiniteLossError, unwrap
from .baseline import Baseline
from .caf import CAF
from .elim import ELIM

METHODS: dict[str, type[Method]] = {}
"""The methods by name, in registration order: the Baseline (the reference of every comparison)
first. Filled by ``register_method`` only (it also fills ``params.METHOD_NAMES``)."""


def register_method(
    cls: type[Method], parameters: Mapping[str, Parameter] | None = None
) -> type[Method]:
    """Make ``cls`` a method under ``cls.name`` everywhere the methods are listed.

    ``parameters`` are its own settings (``<name>_…``, group ``method``; a string switch with its
    ``choices``) when ``ferlib/params.py`` does not list them; read them with ``self.option``.
    """
    add_method(cls.name, parameters)
    METHODS[cls.name] = cls
    return cls


register_method(Baseline)
register_method(CAF)
register_method(AVCE)
register_method(ELIM)


def check_method(name: str) -> None:
    """A one-line ``UserError`` listing the methods when ``name`` is none of them."""
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")


def build_method(config: dict[str, Any]) -> Method:
    check_method(config["method"])
    return METHODS[config["method"]](config)


def cannot_train(method: str, data: FERData) -> str:
    """Why ``method`` cannot train on ``data`` ("" when it can): ELIM needs identities."""
    if METHODS[method].needs_identities and not data.has_identities:
        return f"{method} needs identities and {data.name} has none"
    return ""


__all__ = [
    "CAF",
    "ELIM",
    "METHODS",
    "Baseline",
    "Method",
    "NonFiniteLossError",
    "build_method",
    "check_method",
    "cannot_train",
    "register_method",
    "unwrap",
]
