"""Backend selection of obskit.kernels."""

from __future__ import annotations

import os
import subprocess
import sys

from obskit import kernels


def backend_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "from obskit import kernels; print(kernels.BACKEND)"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_backend_is_named() -> None:
    assert kernels.BACKEND in ("native", "numpy")


def test_pure_python_switch() -> None:
    out = backend_with({"OBSKIT_PURE_PYTHON": "1", "OBSKIT_REQUIRE_NATIVE": "0"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "numpy"


def test_require_native_fails_without_the_extension() -> None:
    # Forcing pure python does not count as a missing extension; hide the module instead.
    code = "import sys; sys.modules['obskit._native'] = None\nfrom obskit import kernels"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "OBSKIT_REQUIRE_NATIVE": "1", "OBSKIT_PURE_PYTHON": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0
    assert "ImportError" in out.stderr or "ModuleNotFoundError" in out.stderr
