"""Declares the optional C extension ``obskit._native`` (everything else is in pyproject.toml).

Without a working C compiler the build warns and installs the pure-numpy package instead, unless
``OBSKIT_REQUIRE_NATIVE=1`` (CI), where a failed compile fails the install.
"""

from __future__ import annotations

import os
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

REQUIRE_NATIVE = os.environ.get("OBSKIT_REQUIRE_NATIVE") == "1"

native = Extension(
    "obskit._native",
    sources=[
        "native/obskit_native.c",
        "native/decode_columns.c",
        "native/encode_columns.c",
        "native/sort_samples.c",
        "native/concat_runs.c",
        "native/text_parse.c",
        "native/remote_write.c",
        "native/promql_windows.c",
        "native/promql_agg.c",
        "native/json_points.c",
        "native/value_pages.c",
        "native/value_pages_enc.c",
        "native/value_meta.c",
    ],
    depends=["native/column_kernels.h", "native/promql_kernels.h", "native/value_pages.h"],
    # -O3 but portable (no -march=native); no FMA contraction so float results match numpy's.
    extra_compile_args=[
        "-O3", "-std=c11", "-ffp-contract=off", "-fno-strict-aliasing", "-pthread"
    ],
    extra_link_args=["-pthread"],
    optional=not REQUIRE_NATIVE,
)


class OptionalBuildExt(build_ext):
    """Turns a failed compile into a warning unless the native extension is required."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            if REQUIRE_NATIVE:
                raise
            warnings.warn(
                f"obskit._native not built ({exc}); using the numpy kernels", stacklevel=1
            )

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            if REQUIRE_NATIVE:
                raise
            warnings.warn(
                f"obskit._native not built ({exc}); using the numpy kernels", stacklevel=1
            )


setup(ext_modules=[native], cmdclass={"build_ext": OptionalBuildExt})
