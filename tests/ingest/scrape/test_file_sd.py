"""file_sd: JSON and YAML group files, edits picked up by polling, bad files keep old groups."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from obskit.ingest.scrape import FileSDConfig
from obskit.ingest.scrape.file_sd import FileDiscoverer, parse_target_groups


def test_yaml_groups_get_the_filepath_meta_label() -> None:
    (group,) = parse_target_groups(b"- targets: [a:1, b:2]\n  labels: {env: x}\n", "/t/g.yml")
    assert group.source == "/t/g.yml:0"
    assert group.targets == ((("__address__", "a:1"),), (("__address__", "b:2"),))
    assert dict(group.labels) == {"env": "x", "__meta_filepath": "/t/g.yml"}


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'[{"targets": "a:1"}]',
        b'[{"targets": [], "other": 1}]',
        b"[",
        b'[{"labels": {"a": 1}}]',
    ],
)
def test_invalid_files_are_refused(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"/t/g\.json"):
        parse_target_groups(body, "/t/g.json")


def test_discoverer_follows_edits_and_keeps_groups_of_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"targets": ["a:1"]}]))
    discoverer = FileDiscoverer(FileSDConfig(files=(f"{tmp_path}/*.json",), refresh_interval="1h"))

    def addresses() -> list[str]:
        groups = asyncio.run(discoverer.refresh())
        return [dict(t)["__address__"] for g in groups for t in g.targets]

    assert addresses() == ["a:1"]
    path.write_text(json.dumps([{"targets": ["b:2", "c:3"]}]))
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    assert addresses() == ["b:2", "c:3"]
    path.write_text("[not json")
    assert addresses() == ["b:2", "c:3"]
    path.unlink()
    assert addresses() == []
