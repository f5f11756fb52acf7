"""Section 1: planning time against workflow size, mfile vs `snakemake -n` vs KFP's compiler.

Each tool gets the same DAG (``gen_mfile.planning_shape``) in its own idiom and is timed as
a fresh process, from start to its plan on disk, with a fresh output folder per run. Runs
are interleaved (mfile, snakemake, kfp, mfile, ...) so that drift of a shared machine hits
every tool alike. Every run's output is checked (N scripts, N+1 jobs, N tasks) so a tool
that fails fast can never look fast.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Callable

import gen_kfp
import gen_mfile
import gen_snakefile
from suite.common import Peers, WORK, linear_fit, median, mfile_argv, run_timed

TOOLS = ("mfile", "snakemake", "kfp")


def bench_profile(directory: Path, needed: int = 5003) -> str:
    """``local``, or when the shipped profile caps a pipeline below ``needed`` queued jobs
    (a site policy check, not a planning cost), a copy of it with the cap raised."""
    from importlib.resources import files

    text = (files("mfile") / "profiles" / "local.toml").read_text(encoding="utf-8")
    m = re.search(r"(?m)^submit_limit = (\d+)", text)
    if m is None or int(m.group(1)) >= needed:
        return "local"
    text = text.replace(m.group(0), "submit_limit = 10000").replace('name = "local"', 'name = "bench-local"', 1)
    path = directory / "bench-local.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _count_sbatch(out: Path) -> int:
    return sum(1 for _ in out.glob("*/jobs/*.sbatch"))


def _snakemake_jobs(stdout: str) -> int | None:
    m = re.search(r"^total\s+(\d+)\s*$", stdout, re.M)
    return int(m.group(1)) if m else None


def _first_error(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        if "Error" in line or "error" in line:
            return line.strip()[:200]
    return (text.strip().splitlines() or ["no output"])[-1][:200]


class Planner:
    """Writes one size's three workflows and times one run of one tool."""

    def __init__(self, root: Path, n: int, peers: Peers, items: Path, profile: str, deep: bool = False) -> None:
        self.dir, self.n, self.peers, self.items, self.profile = root / f"n{n}", n, peers, items, profile
        self.dir.mkdir(parents=True, exist_ok=True)
        if deep:
            (self.dir / "bench.mfile").write_text(gen_mfile.chain_mfile(n))
            (self.dir / "Snakefile").write_text(gen_snakefile.chain_snakefile(n))
        else:
            (self.dir / "bench.mfile").write_text(gen_mfile.planning_mfile(n))
            (self.dir / "Snakefile").write_text(gen_snakefile.planning_snakefile(n))
            (self.dir / "pipeline.py").write_text(gen_kfp.planning_script(n))
        self.runs = 0

    def command(self, tool: str, out: Path) -> list[str]:
        if tool == "mfile":
            return [*mfile_argv(), "compile", str(self.dir / "bench.mfile"), "--items", str(self.items),
                    "--profile", str(self.profile), "-o", str(out)]  # fmt: skip
        if tool == "snakemake":
            return [self.peers.bin("snakemake"), "-n", "-s", str(self.dir / "Snakefile"), "-d", str(out), "--cores", "1"]
        return [self.peers.bin("python"), str(self.dir / "pipeline.py"), str(out / "pipeline.yaml")]

    def once(self, tool: str, timeout: float) -> tuple[tuple[float, float] | None, str]:
        """(wall, CPU) seconds of one run, or None and why it failed (the output is verified)."""
        self.runs += 1
        out = self.dir / f"out-{tool}-{self.runs}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        r = run_timed(self.command(tool, out), cwd=self.dir, timeout=timeout)
        try:
            if r.returncode != 0:
                return None, f"exit {r.returncode}: {_first_error(r.stderr + r.stdout)}"
            if tool == "mfile":
                got, want = _count_sbatch(out), self.n
            elif tool == "snakemake":
                got, want = _snakemake_jobs(r.stdout + r.stderr), self.n + 1  # + the target rule
            else:
                got, want = (out / "pipeline.yaml").read_text().count("taskInfo:"), self.n
            if got != want:
                return None, f"planned {got} tasks, expected {want}"
            return (r.seconds, r.cpu), ""
        finally:
            shutil.rmtree(out, ignore_errors=True)


def run(peers: Peers, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    root = WORK / "planning"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    items = gen_mfile.write_item_root(root / "items")
    profile = bench_profile(root)
    sizes = (10, 100, 1000) if quick else (10, 100, 1000, 5000)
    tools = TOOLS if peers.ok else ("mfile",)
    result: dict[str, Any] = {"sizes": list(sizes), "times": {}, "cpu": {}, "errors": {}, "runs": {}, "fit": {}, "profile_name": profile}
    for n in sizes:
        if quick:
            runs = {t: (1 if n >= 1000 else 2) for t in tools}
        else:
            runs = {t: (3 if n >= 5000 else 5) for t in tools}
        if n >= 5000 and "kfp" in runs:
            runs["kfp"] = 1  # KFP's compiler is superlinear: one run takes minutes here
        planner = Planner(root, n, peers, items, profile)
        samples: dict[str, list[tuple[float, float]]] = {t: [] for t in tools}
        for i in range(max(runs.values())):
            for tool in tools:
                if i >= runs[tool] or result["errors"].get(f"{tool}@{n}"):
                    continue
                got, err = planner.once(tool, timeout=1800)
                if got is None:
                    result["errors"][f"{tool}@{n}"] = err
                    log(f"  N={n:>5} {tool:<9} FAILED: {err}")
                else:
                    samples[tool].append(got)
        for tool in tools:
            if samples[tool]:
                wall, cpu = median([s[0] for s in samples[tool]]), median([s[1] for s in samples[tool]])
                result["times"].setdefault(tool, {})[str(n)] = wall
                result["cpu"].setdefault(tool, {})[str(n)] = cpu
                result["runs"].setdefault(tool, {})[str(n)] = len(samples[tool])
                log(f"  N={n:>5} {tool:<9} median {wall:7.3f} s wall, {cpu:7.3f} s CPU over {len(samples[tool])} run(s)")
    for key, fits in (("times", "fit"), ("cpu", "fit_cpu")):
        result.setdefault(fits, {})
        for tool, by_n in result[key].items():
            xs = [int(n) for n in by_n]
            result[fits][tool] = linear_fit(xs, [by_n[str(n)] for n in xs])
    if not quick:
        result["deep"] = deep_chain(root, peers, items, profile, log)
    if not peers.ok:
        result["peers_unavailable"] = peers.reason
    return result


def deep_chain(root: Path, peers: Peers, items: Path, profile: str, log: Callable[[str], None]) -> dict[str, Any]:
    """What each tool does with 1,000 tasks in one line (the failure the notes record for
    Snakemake's dry run), one run each: not part of the fit."""
    n = 1000
    planner = Planner(root / "deep", n, peers, items, profile, deep=True)
    out: dict[str, Any] = {"n": n}
    for tool in ("mfile", "snakemake") if peers.ok else ("mfile",):
        got, err = planner.once(tool, timeout=900)
        secs = got[0] if got else None
        out[tool] = {"seconds": secs, "error": err}
        log(f"  deep chain of {n}: {tool:<9} " + (f"{secs:.3f} s" if secs is not None else f"FAILED: {err}"))
    return out
