"""The VA methods. Each is a ``Method`` on the one trainer; this registry names them."""

from __future__ import annotations

from typing import Any

from .avce import AVCE
from .base import Method, NonFiniteLossError, unwrap
from .baseline import Baseline
from .caf import CAF
from .elim import ELIM

METHODS: dict[str, type[Method]] = {"baseline": Baseline, "caf": CAF, "avce": AVCE, "elim": ELIM}


def build_method(config: dict[str, Any]) -> Method:
    name = config["method"]
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name](config)


__all__ = [
    "CAF",
    "ELIM",
    "METHODS",
    "Baseline",
    "Method",
    "NonFiniteLossError",
    "build_method",
    "unwrap",
]
