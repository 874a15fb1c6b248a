"""Column codecs and pages: the bytes of timestamp and value columns (formats in each module).

``encode_timestamps``/``encode_values`` turn one series' column into self-describing bytes (codec
id + count + body); ``encode_columns``/``decode_columns`` do the same for many series in one
call; ``encode_page`` compresses a run of such columns with zstd (version 1 pages);
``encode_value_page`` writes version 2 pages, whose value columns are coded together by a
transform stage (``residuals``) and a context-modelled rANS coder (``rans``, ``valuepages``).
The hot loops are in ``obskit.kernels`` (numpy reference or the C extension).
"""

from __future__ import annotations

from obskit.encoding.codecs import Codec, codec_name
from obskit.encoding.columns import (
    codec_names,
    decode_columns,
    decode_pages_into,
    encode_columns,
    sample_pages_into,
)
from obskit.encoding.pages import (
    DEFAULT_ZSTD_LEVEL,
    PAGE_TARGET_BYTES,
    PAGE_TARGET_SAMPLES,
    decode_page,
    encode_page,
    encode_value_page,
    raw_column_lengths,
)
from obskit.encoding.timestamps import decode_timestamps, encode_timestamps
from obskit.encoding.values import decode_values, encode_values

__all__ = [
    "DEFAULT_ZSTD_LEVEL",
    "PAGE_TARGET_BYTES",
    "PAGE_TARGET_SAMPLES",
    "Codec",
    "codec_name",
    "codec_names",
    "decode_columns",
    "decode_page",
    "decode_pages_into",
    "decode_timestamps",
    "decode_values",
    "encode_columns",
    "encode_page",
    "encode_timestamps",
    "encode_value_page",
    "encode_values",
    "raw_column_lengths",
    "sample_pages_into",
]
