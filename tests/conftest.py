"""Suite-wide test settings.

Hypothesis' per-example deadline and its speed health check (``too_slow``) are wall-clock
assertions; on a shared 2-core CI machine they fail for reasons unrelated to the code under test
(speed is measured in ``benchmarks/``, never asserted in tests), so both are off suite-wide.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("obskit", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("obskit")
