"""obskit: metrics and log storage, PromQL/LogQL queries and alerting in one Python package.

``import obskit`` is cheap: subpackages (``obskit.tsdb``, ...) are imported on first use.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
