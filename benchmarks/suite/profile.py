"""Where ``mfile compile`` spends its time at N = 1,000: py-spy samples (a sampling profiler,
so the process runs at nearly full speed), grouped by the compiler phase each sample is in.

py-spy is a benchmark tool, not a peer: it goes into the peers' venv on first use (full runs
only) and the section is skipped when it cannot be installed or cannot attach.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import gen_mfile
from suite.common import WORK, Peers, mfile_argv

PY_SPY = "py-spy==0.4.3"
_FRAME = re.compile(r"(.+?) \((.*?):\d+\)$")


def phase_of(stack: list[str]) -> str:
    """The phase of one sample: the outermost frame that belongs to a phase decides, so a
    module imported lazily inside codegen counts as codegen, one imported at start as imports."""
    for frame in stack:
        m = _FRAME.match(frame)
        if not m:
            continue
        fn, path = m.groups()
        if "importlib" in path and "_find_and_load" in fn:
            return "imports at start-up"
        if path.startswith("mfile/") or "/mfile/" in path:
            rel = path.split("mfile/", 1)[1]
            if rel.startswith("mfile_grammar/"):
                return "parse (mfile_grammar + lark)"
            if rel.startswith("codegen/"):
                return "codegen: " + rel.split("/")[1]
            if rel.startswith("compiler/") and rel.split("/")[1] not in ("driver.py", "check.py"):
                return "front end: " + rel.split("/")[1]
            if rel.startswith("runtime/"):
                return "plan: " + rel.split("/")[1]
    return "other (interpreter start, click)"


def breakdown(raw: str) -> list[tuple[str, float]]:
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, n = line.rstrip().rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        counts[phase_of(stack.split(";"))] += int(n)
    return [(k, v / total) for k, v in counts.most_common()] if total else []


def run(peers: Peers, n: int, log: Callable[[str], None]) -> dict[str, Any]:
    if not peers.ok:
        return {"skipped": f"no peers' venv for py-spy: {peers.reason}"}
    spy = Path(peers.bin("py-spy"))
    if not spy.exists():
        p = subprocess.run([peers.bin("python"), "-m", "pip", "install", "-q", PY_SPY], capture_output=True, text=True)
        if p.returncode != 0 or not spy.exists():
            return {"skipped": f"could not install {PY_SPY}"}
    root = WORK / "profile"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    items = gen_mfile.write_item_root(root / "items")
    src = root / "bench.mfile"
    src.write_text(gen_mfile.planning_mfile(n))
    raw = root / "py-spy.txt"
    # py-spy's default rate: faster sampling slows the target noticeably on 2 cores.
    argv = [str(spy), "record", "-r", "100", "-f", "raw", "-o", str(raw), "--",
            *mfile_argv(), "compile", str(src), "--items", str(items), "--profile", "local", "-o", str(root / "out")]  # fmt: skip
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0 or not raw.exists():
        return {"skipped": f"py-spy failed: {(p.stderr or p.stdout).strip()[-200:]}"}
    phases = breakdown(raw.read_text())
    for name, share in phases[:8]:
        log(f"  {100 * share:5.1f}%  {name}")
    return {"n": n, "phases": phases, "samples": sum(1 for _ in raw.read_text().splitlines()),
            "command": f"py-spy record -r 100 -f raw -- mfile compile <N={n}> --profile local"}  # fmt: skip
