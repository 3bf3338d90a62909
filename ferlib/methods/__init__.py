"""The VA methods. Each is a ``Method`` on the one trainer; this registry names them."""

from __future__ import annotations

from typing import Any

from ..data import FERData
from .avce import AVCE
from .base import Method, NonFiniteLossError, unwrap
from .baseline import Baseline
from .caf import CAF
from .elim import ELIM

METHODS: dict[str, type[Method]] = {"baseline": Baseline, "caf": CAF, "avce": AVCE, "elim": ELIM}


def check_method(name: str) -> None:
    """A one-line ValueError listing the methods when ``name`` is none of them."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")


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
    "unwrap",
]
