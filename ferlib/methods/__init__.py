"""The VA methods. Each is a ``Method`` on the one trainer; this registry names them."""

from __future__ import annotations

from typing import Any

from .base import Method, NonFiniteLossError, unwrap
from .baseline import Baseline

METHODS: dict[str, type[Method]] = {"baseline": Baseline}


def build_method(config: dict[str, Any]) -> Method:
    name = config["method"]
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name](config)


__all__ = ["METHODS", "Baseline", "Method", "NonFiniteLossError", "build_method", "unwrap"]
