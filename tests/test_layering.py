"""Layering rules import-linter cannot express (it cannot see compiled modules)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "obskit"


def test_only_kernels_imports_the_native_extension() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "kernels" / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                names = [mod] + [f"{mod}.{a.name}" for a in node.names]
            if any(n.endswith("_native") or "._native" in n for n in names):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_store_and_engines_do_not_import_fastapi() -> None:
    import subprocess
    import sys

    code = "import sys, obskit.tsdb; assert 'fastapi' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
