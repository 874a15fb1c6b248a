#!/usr/bin/env bash
# Installs everything the tests need and runs lint, type checks, layering and the test suite
# (store tests twice: native kernels, then OBSKIT_PURE_PYTHON=1). The README's test command;
# .ci/run calls exactly this. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
echo "== install (pip install -e .[dev])"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet -e ".[dev]"

echo "== Debian peers for end-to-end tests (tests that need one skip, saying why, without it)"
PEERS="prometheus prometheus-node-exporter dnsmasq"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=""
  for p in $PEERS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } \
      || echo "warning: could not install$missing; their tests will skip"
  fi
else
  echo "not root or no apt-get: tests that need$PEERS skip unless they are installed"
fi

echo "== lint"
"$PY" -m ruff check src tests benchmarks
"$PY" -m ruff format --check src tests benchmarks
echo "== types (mypy --strict src/)"
"$PY" -m mypy
echo "== layering (import-linter)"
lint-imports

echo "== tests (kernels: $("$PY" -c 'import obskit.kernels as k; print(k.BACKEND)'))"
"$PY" -m pytest -n 2 --dist loadfile -q
echo "== store and codec tests on the pure numpy fallback (OBSKIT_PURE_PYTHON=1)"
OBSKIT_PURE_PYTHON=1 "$PY" -m pytest -n 2 --dist loadfile -q tests/tsdb tests/encoding tests/kernels
