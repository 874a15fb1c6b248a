"""PromQL conformance: Prometheus' ``.test`` scripts (from ``../shared/conformance/``) run
against ``obskit.promql``; ``report.py`` prints and records the pass counts."""
