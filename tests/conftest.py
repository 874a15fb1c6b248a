"""Suite-wide test settings.

Hypothesis' speed health check (``too_slow``) measures wall time while generating inputs; on a
shared 2-core CI machine it fails for reasons unrelated to the code under test, so it is off.
Correctness checks and deadlines stay as each test sets them.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("obskit", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("obskit")
