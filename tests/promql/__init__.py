"""Differential tests of the PromQL engine against Prometheus' own."""
