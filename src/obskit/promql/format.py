"""Floats as Prometheus prints them (Go's ``strconv.FormatFloat(f, 'f', -1, 64)``)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["format_float"]


def format_float(value: float) -> str:
    """Shortest round-trip decimal without exponent; ``NaN``, ``+Inf``, ``-Inf``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text: str = np.format_float_positional(value, unique=True, trim="-")
    return text
