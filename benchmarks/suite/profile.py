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


def _samples(raw: str) -> list[tuple[list[str], int]]:
    out = []
    for line in raw.splitlines():
        stack, _, n = line.rstrip().rpartition(" ")
        if n.isdigit():
            out.append((stack.split(";"), int(n)))
    return out


def breakdown(raw: str) -> list[tuple[str, float]]:
    counts: collections.Counter[str] = collections.Counter()
    samples = _samples(raw)
    total = sum(n for _, n in samples)
    for stack, n in samples:
        counts[phase_of(stack)] += n
    return [(k, v / total) for k, v in counts.most_common()] if total else []


def hot_spots(raw: str, top: int = 10) -> list[tuple[str, float]]:
    """Share of samples per innermost mfile function and the library call it is in, e.g.
    ``codegen/render.py:write_run_dir -> Path.write_text``: where a fix would go."""
    counts: collections.Counter[str] = collections.Counter()
    samples = _samples(raw)
    total = sum(n for _, n in samples)
    for stack, n in samples:
        key = "interpreter start-up / click"
        for i in range(len(stack) - 1, -1, -1):
            m = _FRAME.match(stack[i])
            if m and (m.group(2).startswith("mfile/") or "/mfile/" in m.group(2)) and not m.group(2).endswith("cli.py"):
                inner = _FRAME.match(stack[i + 1]) if i + 1 < len(stack) else None
                where = m.group(2).split("mfile/", 1)[1]
                key = f"{where}:{m.group(1)}" + (f" -> {inner.group(1)}" if inner else "")
                if any("_find_and_load" in f for f in stack[:i]):
                    key = "import: " + key
                break
        counts[key] += n
    return [(k, v / total) for k, v in counts.most_common(top)] if total else []


def run(peers: Peers, quick: bool, log: Callable[[str], None], n: int = 1000, repeats: int = 5) -> dict[str, Any]:
    """Profile ``repeats`` compiles (samples pooled: one compile gives only ~150 samples)."""
    if quick:
        return {"skipped": "not run in --quick"}
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
    pooled = []
    for i in range(repeats):
        raw = root / f"py-spy-{i}.txt"
        shutil.rmtree(root / "out", ignore_errors=True)
        # py-spy's default rate: faster sampling slows the target noticeably on 2 cores.
        argv = [str(spy), "record", "-r", "100", "-f", "raw", "-o", str(raw), "--",
                *mfile_argv(), "compile", str(src), "--items", str(items), "--profile", "local", "-o", str(root / "out")]  # fmt: skip
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode != 0 or not raw.exists():
            return {"skipped": f"py-spy failed: {(p.stderr or p.stdout).strip()[-200:]}"}
        pooled.append(raw.read_text())
    text = "\n".join(pooled)
    phases, spots = breakdown(text), hot_spots(text)
    for name, share in phases[:8]:
        log(f"  {100 * share:5.1f}%  {name}")
    for name, share in spots[:6]:
        log(f"  {100 * share:5.1f}%  {name}")
    return {"n": n, "phases": phases, "hot_spots": spots, "samples": sum(n for _, n in _samples(text)), "repeats": repeats,
            "command": f"py-spy record -r 100 -f raw -- mfile compile <N={n} M-File> --profile local (x{repeats})"}  # fmt: skip
