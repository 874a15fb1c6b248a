"""Read-only summary of a data directory for ``obskit tsdb inspect``: blocks, series, samples,
bytes per sample and codec mix. Takes no lock and replays nothing, so it can look at the data
directory of a running server (the head is reported as WAL bytes)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from obskit.disk.files import dir_size_bytes
from obskit.errors import CorruptDataError, StorageError
from obskit.tsdb.block import Block

__all__ = ["format_report", "inspect_dir"]


def inspect_dir(path: str | Path) -> dict[str, Any]:
    root = Path(path)
    if not root.is_dir():
        raise StorageError(f"cannot inspect {root}: not a directory")
    blocks: list[dict[str, Any]] = []
    corrupt: list[dict[str, str]] = []
    ts_codecs: Counter[str] = Counter()
    value_codecs: Counter[str] = Counter()
    blocks_dir = root / "blocks"
    for bdir in sorted(blocks_dir.iterdir()) if blocks_dir.is_dir() else []:
        if not bdir.is_dir() or bdir.name.endswith(".tmp"):
            continue
        try:
            block = Block(bdir)
        except CorruptDataError as exc:
            corrupt.append({"path": str(bdir), "error": str(exc)})
            continue
        m = block.meta
        size = m.chunk_bytes + m.index_bytes
        blocks.append(
            {
                "seq": m.seq,
                "level": m.level,
                "mint_ms": m.mint_ms,
                "maxt_ms": m.maxt_ms,
                "series": m.series,
                "samples": m.samples,
                "bytes": size,
                "bytes_per_sample": round(size / m.samples, 4) if m.samples else None,
            }
        )
        ts_codecs.update(m.ts_codecs)
        value_codecs.update(m.value_codecs)
        block.close()
    samples = sum(b["samples"] for b in blocks)
    total = dir_size_bytes(root)
    return {
        "path": str(root),
        "blocks": blocks,
        "corrupt_blocks": corrupt,
        "block_samples": samples,
        "block_bytes": sum(b["bytes"] for b in blocks),
        "wal_bytes": dir_size_bytes(root / "wal") if (root / "wal").exists() else 0,
        "series_log_bytes": dir_size_bytes(root / "series") if (root / "series").exists() else 0,
        "total_bytes": total,
        "bytes_per_sample": round(total / samples, 4) if samples else None,
        "ts_codecs": dict(ts_codecs.most_common()),
        "value_codecs": dict(value_codecs.most_common()),
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [f"data directory {report['path']}"]
    lines.append(
        f"{'seq':>12} {'lvl':>3} {'mint_ms':>14} {'maxt_ms':>14} "
        f"{'series':>8} {'samples':>12} {'bytes':>12} {'B/sample':>9}"
    )
    for b in report["blocks"]:
        bps = "-" if b["bytes_per_sample"] is None else f"{b['bytes_per_sample']:.4f}"
        lines.append(
            f"{b['seq']:>12} {b['level']:>3} {b['mint_ms']:>14} {b['maxt_ms']:>14} "
            f"{b['series']:>8} {b['samples']:>12} {b['bytes']:>12} {bps:>9}"
        )
    lines += [f"CORRUPT {c['path']}: {c['error']}" for c in report["corrupt_blocks"]]
    bps = report["bytes_per_sample"]
    lines += [
        f"blocks: {len(report['blocks'])}, samples in blocks: {report['block_samples']}",
        f"bytes: blocks {report['block_bytes']}, wal {report['wal_bytes']}, "
        f"series log {report['series_log_bytes']}, whole directory {report['total_bytes']}",
        f"bytes/sample (whole directory / samples in blocks): {'-' if bps is None else bps}",
        "timestamp codecs (columns): "
        + ", ".join(f"{k} {v}" for k, v in report["ts_codecs"].items()),
        "value codecs (columns): "
        + ", ".join(f"{k} {v}" for k, v in report["value_codecs"].items()),
    ]
    return "\n".join(lines)
