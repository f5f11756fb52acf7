"""Section 4: lint throughput, ``mfile check DIR`` over 1,000 M-Files vs ``snakemake --lint``.

A CI lint of a large repository: 1,000 workflows of 10 tasks each (``lint_corpus`` in both
generators, files differing in a parameter). mfile lints all of them in one process, as
``mfile check DIR`` is used in CI. ``snakemake --lint`` reads one Snakefile per process, so
it runs once per workflow; at ~1.4 s a file here, the full run times a sample of them and
states the per-file cost (each process is independent, so the total is linear in files).
"""

from __future__ import annotations

import re
import shutil
from typing import Any, Callable

import gen_mfile
import gen_snakefile
from suite.common import WORK, Peers, median, mfile_argv, run_timed

FILES = 1000


def run(peers: Peers, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    root = WORK / "lint"
    shutil.rmtree(root, ignore_errors=True)
    items = gen_mfile.write_item_root(root / "items")
    files = 200 if quick else FILES
    gen_mfile.lint_corpus(root / "mfiles", files)
    result: dict[str, Any] = {"files": files, "tasks_per_file": 10}

    runs = 1 if quick else 3
    times = []
    for _ in range(runs):
        r = run_timed([*mfile_argv(), "check", str(root / "mfiles"), "--items", str(items)])
        m = re.search(r"(\d+) files? checked: (\d+) error", r.stderr + r.stdout)
        if r.returncode != 0 or not m or int(m.group(1)) != files:
            result["mfile"] = {"error": f"exit {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}"}
            break
        times.append(r.seconds)
    else:
        result["mfile"] = {"seconds": median(times), "runs": runs, "per_file_s": median(times) / files}
        log(f"  mfile check     {files} files in {median(times):.2f} s ({1000 * median(times) / files:.1f} ms/file)")

    if not peers.ok:
        result["peers_unavailable"] = peers.reason
        return result
    sample = 3 if quick else 100
    snakefiles = gen_snakefile.lint_corpus(root / "snakefiles", sample)
    per_file = []
    lints = 0
    for sf in snakefiles:
        r = run_timed([peers.bin("snakemake"), "--lint", "-s", str(sf), "-d", str(sf.parent)])
        if r.returncode not in (0, 1) or "Traceback" in r.stderr:
            result["snakemake"] = {"error": f"exit {r.returncode}: {r.stderr.strip()[-300:]}"}
            return result
        lints += r.returncode  # exit 1: it found something to complain about
        per_file.append(r.seconds)
    est = median(per_file) * files
    result["snakemake"] = {
        "sample": sample, "per_file_s": median(per_file), "sum_sample_s": sum(per_file),
        "estimated_s": est, "files_with_lints": lints,
    }  # fmt: skip
    log(f"  snakemake lint  {sample} files, median {median(per_file):.2f} s/file -> {est:.0f} s for {files}")
    return result
