"""Crash safety: a child process appends batches (out of order, with flushes and compactions) and
prints each acknowledged batch; the parent SIGKILLs it at a random moment, reopens the store and
checks that every acknowledged sample is there and nothing that was never sent appears."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import obskit.tsdb as tsdb

N_SERIES = 20
STEPS = 10  # timestamps per series per batch
N_SLOTS = 20_000
TRIALS = 24

CHILD = rf"""
import sys
import numpy as np
import obskit.tsdb as tsdb
from obskit.model import make_labels

path, start = sys.argv[1], int(sys.argv[2])
opts = tsdb.Options(fsync="none", retention_ms=0, head_max_samples=3_000,
                    block_ranges_ms=(1_800_000, 5_400_000, 16_200_000))
perm = np.random.default_rng(1).permutation({N_SLOTS})
db = tsdb.open(path, opts)
refs = db.series_refs([make_labels("m", i=str(i)) for i in range({N_SERIES})])
print("ready", flush=True)
k = start
while True:
    ts = (perm[k] * {STEPS} + np.arange({STEPS}, dtype=np.int64)) * 15_000
    ids = np.repeat(refs, {STEPS})
    tss = np.tile(ts, {N_SERIES})
    vals = k * 1000.0 + np.repeat(np.arange({N_SERIES}, dtype=np.float64), {STEPS})
    db.append_refs(ids, tss, vals)
    print(k, flush=True)
    if k % 37 == 36:
        db.compact()
    k += 1
"""


def expected_batch(k: int, perm: np.ndarray) -> dict[tuple[int, int], float]:
    ts = (perm[k] * STEPS + np.arange(STEPS)) * 15_000
    return {(i, int(t)): k * 1000.0 + i for i in range(N_SERIES) for t in ts.tolist()}


@pytest.mark.slow
def test_acknowledged_samples_survive_sigkill(tmp_path: Path) -> None:
    perm = np.random.default_rng(1).permutation(N_SLOTS)
    slot_of_ts = {int(p): k for k, p in enumerate(perm.tolist())}
    rnd = random.Random(42)
    acked: set[int] = set()
    next_k = 0
    for trial in range(TRIALS):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), str(next_k)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        assert proc.stdout is not None
        if trial % 4 == 3:  # kill anywhere, also while the store opens and replays its WAL
            time.sleep(rnd.uniform(0.0, 1.0))
            head = b""
        else:  # kill while appending, flushing or compacting
            head = proc.stdout.readline()
            time.sleep(rnd.uniform(0.05, 1.0))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        got = [int(x) for x in (head + out).decode().split() if x != "ready"]
        assert got or b"Error" not in err, err.decode()
        acked.update(got)
        in_flight = (max(got) + 1) if got else next_k
        next_k = in_flight + 1

        with tsdb.open(tmp_path, tsdb.Options(fsync="none", retention_ms=0)) as db:
            present: dict[tuple[int, int], float] = {}
            for s in db.select([], np.iinfo(np.int64).min, np.iinfo(np.int64).max):
                i = int(dict(s.labels)["i"])
                for t, v in zip(s.timestamps_ms.tolist(), s.values.tolist(), strict=True):
                    present[(i, t)] = v
        # every acknowledged sample is present with its value
        for k in acked:
            for key, v in expected_batch(k, perm).items():
                assert present.get(key) == v, f"trial {trial}: acked batch {k} lost {key}"
        # nothing else: only sent batches, and the in-flight batch all or nothing
        for (i, t), v in present.items():
            k = slot_of_ts[t // 15_000 // STEPS]
            assert v == k * 1000.0 + i, f"trial {trial}: invented sample {(i, t, v)}"
            assert k in acked or k < next_k, f"trial {trial}: batch {k} never sent"
        flight = expected_batch(in_flight, perm)
        n_flight = sum(key in present for key in flight)
        assert n_flight in (0, len(flight)), f"trial {trial}: in-flight batch partly stored"
        if n_flight:
            acked.add(in_flight)
    assert len(acked) > 50  # the trials really appended something
