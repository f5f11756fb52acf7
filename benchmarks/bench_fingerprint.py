"""What the staleness check of input files costs: a glob over N files (default 10,000).

    .venv/bin/python benchmarks/bench_fingerprint.py             # 10,000 files
    .venv/bin/python benchmarks/bench_fingerprint.py --files 100000

Measures, median of ``--repeat`` runs on a warm page cache, with the functions the runtime uses:

- ``fingerprint``: expand the glob and stat every match (``expand_globs`` + ``fingerprint``), what a
  payload's ``resolve_paths`` adds to a task;
- ``check``: ``read_changes`` on the record's list, unchanged files (expand, stat, compare), what
  ``mfile run``, ``submit --resume`` and ``status`` pay per task before deciding to skip it;
- ``record``: the ``reads`` list through JSON as ``write_json_atomic`` writes it and back, and its size;
- ``sha256``: for comparison, hashing the content of every file (why the fingerprint is size and
  mtime_ns, not content: content hashing grows with the bytes, stat does not).

Goal: ``check`` of 10,000 files under 1 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

from mfile.plan.state import expand_globs, fingerprint, read_changes


def timed(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=4096, help="bytes per file")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None, help="where to create the files (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        block = b"x" * args.size
        for i in range(args.files):
            (root / f"era5_{i:06d}.nc").write_bytes(block)
        globs = [str(root / "era5_*.nc")]
        files = expand_globs(globs)
        assert len(files) == args.files
        reads = [{"pattern": "era5_*.nc", "globs": globs, "files": fingerprint(files)}]

        t_fp = timed(lambda: fingerprint(expand_globs(globs)), args.repeat)
        t_check = timed(lambda: read_changes(reads), args.repeat)
        assert read_changes(reads) == []
        text = json.dumps({"reads": reads}, indent=2, sort_keys=True)
        t_json = timed(lambda: json.loads(json.dumps({"reads": reads}, indent=2, sort_keys=True)), args.repeat)

        def hash_all() -> None:
            for f in files:
                with open(f, "rb") as fh:
                    hashlib.file_digest(fh, "sha256")

        t_hash = timed(hash_all, args.repeat)
    n = f"{args.files:,} files of {args.size:,} B"
    print(f"{n}: fingerprint {t_fp * 1e3:.0f} ms, check {t_check * 1e3:.0f} ms, "
          f"record json {t_json * 1e3:.0f} ms ({len(text) / 2**20:.1f} MiB), "
          f"sha256 of the content {t_hash * 1e3:.0f} ms")  # fmt: skip
    print("goal: check < 1000 ms:", "met" if t_check < 1.0 else "MISSED")


if __name__ == "__main__":
    main()
