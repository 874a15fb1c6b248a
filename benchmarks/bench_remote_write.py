"""Remote-write decode benchmark: M samples/s of ``RemoteWriteDecoder.write``, native vs pure.

Payloads are shaped as Prometheus sends them: node_exporter-like series (``gen_node.py``, ~8
labels each), one TimeSeries per sample, ~5,000 samples per request, snappy block format. Reported
per backend, on one core:

- ``warm``: every series already in the ref cache (the steady state);
- ``new``: every series new (fresh decoder and appender each pass: labels parsed, validated,
  ``series_refs`` called, cache filled);
- the split of the warm path: snappy, decode (count + decode kernels with cache look-ups), and the
  rest (ref gather + ``append_refs`` into a no-op appender);
- with ``--store``, the warm path appending into a real ``obskit.tsdb`` store (WAL + head).

    python benchmarks/bench_remote_write.py --hosts 100 --steps 20
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cramjam
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).parent))

import gen_node
from obskit import kernels
from obskit.ingest import remote_write
from obskit.kernels import _remote_write
from obskit.model.batch import AppendResult
from obskit.model.labels import LabelsLike

NATIVE_FUNCS = (kernels.count_write_request, kernels.decode_write_request, kernels.new_ref_cache)
PURE_FUNCS = (
    _remote_write.count_write_request,
    _remote_write.decode_write_request,
    _remote_write.PyRefCache,
)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if not n:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_requests(ds: gen_node.Dataset, batch: int) -> tuple[list[bytes], int]:
    """Scrape-ordered requests of ``batch`` samples, one TimeSeries per sample."""
    label_bytes = [
        b"".join(_field(1, _field(1, k.encode()) + _field(2, v.encode())) for k, v in ls)
        for ls in ds.labels
    ]
    ts = ds.timestamps()
    records: list[bytes] = []
    for t in range(ts.shape[0]):
        for s, lab in enumerate(label_bytes):
            sample = b"\x09" + struct.pack("<d", ds.values[t, s]) + b"\x10" + _varint(ts[t, s])
            records.append(_field(1, lab + _field(2, sample)))
    bodies = [
        bytes(cramjam.snappy.compress_raw(b"".join(records[i : i + batch])))
        for i in range(0, len(records), batch)
    ]
    return bodies, len(records)


class NullAppender:
    """A RefAppender that stores nothing: refs from a dict, appends only counted."""

    def __init__(self) -> None:
        self.ids: dict[tuple[tuple[str, str], ...], int] = {}

    def series_refs(self, labels: Sequence[LabelsLike]) -> npt.NDArray[np.int64]:
        ids = self.ids
        return np.array(
            [ids.setdefault(ls, len(ids)) for ls in labels],  # type: ignore[arg-type]
            dtype=np.int64,
        )

    def append_refs(
        self,
        refs: npt.NDArray[np.int64],
        timestamps_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> AppendResult:
        return AppendResult(len(refs))

    def append(self, batch: object) -> AppendResult:
        raise NotImplementedError


def use(funcs: tuple[Callable[..., object], ...]) -> None:
    kernels.count_write_request, kernels.decode_write_request, kernels.new_ref_cache = funcs  # type: ignore[assignment]


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(backend: str, bodies: list[bytes], n: int, repeat: int, store: bool) -> dict[str, float]:
    use(NATIVE_FUNCS if backend == "native" else PURE_FUNCS)
    limits = remote_write.WriteLimits()

    def write_all(decoder: remote_write.RemoteWriteDecoder) -> None:
        for body in bodies:
            decoder.write(body)

    warm = remote_write.RemoteWriteDecoder(NullAppender())
    write_all(warm)
    t_warm = best_of(repeat, lambda: write_all(warm))
    t_new = best_of(
        max(1, repeat // 2), lambda: write_all(remote_write.RemoteWriteDecoder(NullAppender()))
    )
    datas = [remote_write.decompress_body(b, limits) for b in bodies]
    t_snappy = best_of(repeat, lambda: [remote_write.decompress_body(b, limits) for b in bodies])
    cache = warm._cache  # the warm cache, to time the decode kernels alone
    t_decode = best_of(repeat, lambda: [remote_write._decode(d, limits, cache) for d in datas])
    out = {
        "warm": n / t_warm / 1e6,
        "new": n / t_new / 1e6,
        "snappy_us": t_snappy / n * 1e6,
        "decode_us": t_decode / n * 1e6,
        "rest_us": max(t_warm - t_snappy - t_decode, 0.0) / n * 1e6,
    }
    if store:
        from obskit import tsdb

        with tempfile.TemporaryDirectory() as tmp, tsdb.open(tmp) as db:
            decoder = remote_write.RemoteWriteDecoder(db)
            write_all(decoder)  # series created; later passes overwrite the same samples
            out["store"] = n / best_of(repeat, lambda: write_all(decoder)) / 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20, help="scrapes per series")
    parser.add_argument("--batch", type=int, default=5000, help="samples per request")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store", action="store_true", help="also append into obskit.tsdb")
    parser.add_argument("--pure", action="store_true", help="also run the pure-Python decoder")
    args = parser.parse_args()
    ds = gen_node.generate(args.hosts, args.steps * gen_node.SCRAPE_MS / 3_600_000)
    bodies, n = encode_requests(ds, args.batch)
    raw = sum(len(remote_write.decompress_body(b, remote_write.WriteLimits())) for b in bodies)
    size = sum(len(b) for b in bodies)
    print(
        f"{len(ds.labels)} series, {n} samples in {len(bodies)} requests; protobuf "
        f"{raw / n:.0f} B/sample, snappy {size / n:.1f} B/sample; kernels: {kernels.BACKEND}"
    )
    backends = (["native"] if kernels.BACKEND == "native" else []) + (
        ["pure"] if args.pure or kernels.BACKEND != "native" else []
    )
    for backend in backends:
        r = run(backend, bodies, n, args.repeat, args.store)
        line = (
            f"{backend:6s} warm {r['warm']:6.2f} M samples/s   new series {r['new']:6.3f} M/s   "
            f"per sample: snappy {r['snappy_us']:.3f} us, decode {r['decode_us']:.3f} us, "
            f"rest {r['rest_us']:.3f} us"
        )
        if "store" in r:
            line += f"   into tsdb {r['store']:.2f} M/s"
        print(line)


if __name__ == "__main__":
    main()
