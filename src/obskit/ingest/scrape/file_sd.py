"""File-based discovery (``file_sd_configs``): JSON or YAML files of target groups, found by glob.

Files are watched by polling their (mtime, size, inode) every second, so edits are picked up
without a restart, and all files are re-read every ``refresh_interval`` as Prometheus does. A
file that cannot be read or parsed keeps the groups it last yielded, also as Prometheus.
"""

from __future__ import annotations

import asyncio
import glob
import json
import logging
import os
import time
from typing import Any

import yaml

from obskit.ingest.scrape.config import FileSDConfig
from obskit.ingest.scrape.discovery import TargetGroup
from obskit.ingest.scrape.target import ADDRESS

__all__ = ["FileDiscoverer", "parse_target_groups"]

logger = logging.getLogger(__name__)

# How often files are stat'ed for changes: quick enough that an edit shows within a scrape
# interval of most jobs, cheap enough (a glob and a few stat calls) to not matter.
_WATCH_INTERVAL_S = 1.0

META_FILEPATH = "__meta_filepath"

_Signature = tuple[int, int, int]


def parse_target_groups(data: bytes, path: str) -> list[TargetGroup]:
    """Groups of a file_sd file (JSON for ``.json``, else YAML); raises ``ValueError``."""
    try:
        loaded: Any = json.loads(data) if path.lower().endswith(".json") else yaml.safe_load(data)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot parse {path}: {exc}") from None
    if loaded is None:
        return []
    if not isinstance(loaded, list):
        raise ValueError(f"cannot parse {path}: expected a list of target groups")
    groups = []
    for i, entry in enumerate(loaded):
        where = f"{path}: target group {i}"
        if not isinstance(entry, dict) or not set(entry) <= {"targets", "labels"}:
            raise ValueError(f"{where}: expected an object with 'targets' and 'labels' only")
        targets = entry.get("targets") or []
        labels = entry.get("labels") or {}
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ValueError(f"{where}: 'targets' must be a list of strings")
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in labels.items()
        ):
            raise ValueError(f"{where}: 'labels' must map label names to string values")
        group_labels = {**labels, META_FILEPATH: path}
        groups.append(
            TargetGroup(
                source=f"{path}:{i}",
                targets=tuple(((ADDRESS, t),) for t in targets),
                labels=tuple(sorted(group_labels.items())),
            )
        )
    return groups


def _signature(path: str) -> _Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class FileDiscoverer:
    """Target groups from the files matching one ``file_sd_configs`` entry."""

    mechanism = "file"

    def __init__(self, cfg: FileSDConfig) -> None:
        self._cfg = cfg
        self._refresh_s = cfg.refresh_interval_ms / 1000
        self._seen: dict[str, _Signature] = {}
        self._groups: dict[str, list[TargetGroup]] = {}
        self._last_full_read = -float("inf")

    @property
    def poll_interval_s(self) -> float:
        return min(_WATCH_INTERVAL_S, self._refresh_s)

    async def refresh(self) -> list[TargetGroup]:
        return await asyncio.to_thread(self._refresh)

    def _refresh(self) -> list[TargetGroup]:
        now = time.monotonic()
        full = now - self._last_full_read >= self._refresh_s
        if full:
            self._last_full_read = now
        paths = sorted({p for pattern in self._cfg.files for p in glob.glob(pattern)})
        groups: dict[str, list[TargetGroup]] = {}
        seen: dict[str, _Signature] = {}
        for path in paths:
            signature = _signature(path)
            if signature is None:
                continue
            seen[path] = signature
            if not full and self._seen.get(path) == signature and path in self._groups:
                groups[path] = self._groups[path]
                continue
            try:
                with open(path, "rb") as f:
                    groups[path] = parse_target_groups(f.read(), path)
            except (OSError, ValueError) as exc:
                logger.error("cannot read file_sd file %s, keeping its last targets: %s", path, exc)
                groups[path] = self._groups.get(path, [])
        self._seen, self._groups = seen, groups
        return [group for path in paths for group in groups.get(path, [])]
