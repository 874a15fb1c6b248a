"""Label matchers (=, !=, =~, !~) with RE2 semantics, fully anchored as in Prometheus.

PLACEHOLDER: being written (see tests/model/test_matchers.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["MatchType", "Matcher"]


class MatchType(enum.Enum):
    EQ = "="
    NEQ = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    type: MatchType
    name: str
    value: str
