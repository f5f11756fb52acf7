"""The fixed explanations in docs/benchmarks.md (how each section measures), and the closing
note, written from the numbers of the run so it can never contradict them."""

from __future__ import annotations

from typing import Any

PLANNING = """\
The workflow is a chain of 4 preprocessing tasks (load → regrid → normalize → features)
followed by a fan-out of ensemble members, each trained and then scored: N = 4 + 2·members
tasks, depth 6. It is written once per tool, the way that tool's users write it
(`benchmarks/gen_mfile.py`, `benchmarks/peers/`): the M-File names every task (the language
has no loops); the Snakefile has one rule per step with a `container:` directive and the
members as a `{m}` wildcard expanded by the target rule (N jobs plus `all`); the KFP v2
pipeline has two `@dsl.container_component`s and builds the members in a Python loop.
Times are wall-clock from process start until the tool's plan is on disk and the process
has exited: `mfile compile FILE --items ROOT --profile local -o OUT` (plan.json plus N sbatch
scripts), `snakemake -n -s Snakefile -d WORKDIR --cores 1` (full dry-run output), and
`python pipeline.py OUT.yaml` (KFP import, pipeline definition, compile to YAML). Each run
gets a fresh output folder and is checked (N scripts, N + 1 jobs, N tasks in the YAML);
runs are interleaved across tools; the table shows medians (5 runs, 3 at N = 5,000, KFP
once at N = 5,000 because one compile takes minutes)."""

SWEEP = """\
The sweep is a 1,000-point grid (125 learning rates × 8 batch sizes), each point a train
plus evaluate, then selecting the lowest rmse. Every tool's `sbatch` calls go through a
logging wrapper first on PATH; when the local Slurm cluster is up, the wrapper forwards to
the real `sbatch` with `SBATCH_HOLD=1` so nothing runs, the harness times the submission,
and cancels exactly the job ids it got back. Snakemake's real run starts with the data split
already made, so all points are ready at once; it is stopped once every point is queued
(its select job would follow only after the points finish)."""

DATA = """\
A float32 field on a 0.25° global grid (time × 721 × 1440), written to NetCDF once and
reused. mfile runs `mfile/netcdf` → `mfile/normalize` with `mfile run` (1 rank, then 2
ranks); the netcdf task is the runtime's hand-off (read the source, write the port the next
task reads). Task times are those `mfile run` prints (process start to completion record).
The baseline is one Python process with xarray + dask (`benchmarks/suite/xr_work.py`):
open lazily, global mean and std, write the z-scored field. `dd` gives the disk's ceiling.
The machine has 2 cores, so 2 ranks can at best halve the compute part."""

LINT = """\
CI lint of a repository with 1,000 workflows (10 tasks each, files differing in a
parameter). `mfile check DIR` lints them all in one process. `snakemake --lint` reads one
Snakefile per process, so it runs once per workflow; its per-file median over a sample is
multiplied by 1,000 (the processes are independent, so the total is linear in files)."""


def closing(results: dict[str, Any]) -> str:
    from suite import goals

    secs = results.get("sections", {})
    out = []
    for g in goals.evaluate(results):
        if g.met is False:
            factor = g.ratio / g.threshold if g.better == "lower" else g.threshold / g.ratio  # type: ignore[operator]
            out.append(f"- Goal `{g.id}` ({g.goal}): missed, {g.ratio:.2f} against {g.threshold:g}, "
                       f"a factor {factor:.1f} away.")  # fmt: skip
    check = secs.get("goals", {}).get("result", {}).get("check", {})
    imports = check.get("imports_cpu_s") or {}
    libs = sum(v for k, v in imports.items() if k in ("click", "yaml", "pydantic", "lark"))
    if libs and check.get("pass_cpu_s"):
        out.append(
            f"- Start-up of `mfile check`: importing click, yaml, pydantic and lark alone costs {1000 * libs:.0f} ms CPU, "
            f"{libs / check['pass_cpu_s']:.0f}× `python -c pass`, before mfile builds a model or loads its grammar: "
            "5× is out of reach while the check path loads these libraries; it needs headers checked without "
            "pydantic and a grammar without lark's run-time set-up, or a resident process (the language server)."
        )
    p = secs.get("planning", {}).get("result", {})
    times = p.get("times", {})
    m, s = times.get("mfile", {}).get("1000"), times.get("snakemake", {}).get("1000")
    if m and s:
        ratio = s / m
        if ratio >= 5:
            out.append(f"- Planning at N = 1,000: the 5× goal is met ({ratio:.1f}×).")
        else:
            need = s / 5
            out.append(
                f"- Planning at N = 1,000: mfile takes {m:.2f} s against `snakemake -n`'s {s:.2f} s, "
                f"{ratio:.2f}× instead of 5×; it would have to compile in {need:.2f} s, "
                f"{m / need:.1f}× faster than now."
            )
    fm, fs = p.get("fit_cpu", {}).get("mfile"), p.get("fit_cpu", {}).get("snakemake")
    if fm and fs and m and s:
        need = s / 5 * (fm["intercept"] + 1000 * fm["slope"]) / m  # the goal in CPU seconds
        out.append(
            f"- Per task, mfile costs about what `snakemake -n` does ({1000 * fm['slope']:.2f} vs "
            f"{1000 * fs['slope']:.2f} ms CPU); its lead is the fixed cost ({fm['intercept']:.2f} vs "
            f"{fs['intercept']:.2f} s CPU), so the ratio shrinks toward {fs['slope'] / fm['slope']:.1f}× as N grows. "
            f"5× at N = 1,000 means about {need:.2f} s CPU in all, e.g. {min(fm['intercept'], need / 2):.2f} s fixed "
            f"plus {1000 * max(need - min(fm['intercept'], need / 2), 0) / 1000:.2f} ms per task: "
            "start-up, parsing and codegen all have to shrink, none of them alone is enough."
        )
    cpu = p.get("cpu", {})
    mc, sc = cpu.get("mfile", {}).get("1000"), cpu.get("snakemake", {}).get("1000")
    if mc and sc:
        out.append(f"- In CPU time (less disturbed by other load) the ratio at N = 1,000 is {sc / mc:.2f}× ({mc:.2f} s vs {sc:.2f} s).")
    for key, what in (("fit", "wall"), ("fit_cpu", "CPU")):
        fit = p.get(key, {}).get("mfile")
        if fit:
            lin = "linear" if fit["r2"] > 0.99 and 0.8 <= fit.get("exponent", 1) <= 1.25 else "not clearly linear"
            out.append(
                f"- mfile's {what} time is {lin} in N: R² = {fit['r2']:.4f}, "
                f"{1000 * fit['slope']:.2f} ms per task, {fit['intercept']:.2f} s fixed cost, "
                f"log-log exponent {fit.get('exponent', float('nan')):.2f} between the two largest sizes."
            )
    kfit = p.get("fit", {}).get("kfp")
    if kfit and kfit.get("exponent", 0) > 1.3:
        slowest = [n for n in p.get("sizes", []) if str(n) in times.get("kfp", {})
                   and times["kfp"][str(n)] == max(t.get(str(n), 0) for t in times.values())]  # fmt: skip
        where = f"; it is the slowest planner at N = {', '.join(f'{n:,}' for n in slowest)}" if slowest else ""
        out.append(f"- KFP's compiler grows superlinearly (log-log exponent {kfit['exponent']:.2f} between the two largest N){where}.")
    prof = secs.get("profile", {}).get("result", {})
    if prof.get("phases"):
        parts = ", ".join(f"{name} {100 * share:.0f}%" for name, share in prof["phases"][:6])
        out.append(f"- Where mfile's time goes at N = {prof['n']:,} (py-spy samples by phase): {parts}.")
        spots = ", ".join(f"`{name}` {100 * share:.0f}%" for name, share in prof.get("hot_spots", [])[:5])
        if spots:
            out.append(f"- The largest single spots: {spots}.")
    elif prof.get("skipped"):
        out.append(f"- No profile this run: {prof['skipped']}.")
    sw = secs.get("sweep", {}).get("result", {})
    if sw.get("mfile", {}).get("sbatch_calls_search") == 2:
        out.append("- Sweep: the goal of one array job plus one select job for the search is met.")
    elif sw.get("mfile"):
        out.append(f"- Sweep: mfile used {sw['mfile'].get('sbatch_calls_search')} sbatch calls for the search (goal: 2).")
    return "\n".join(out)


PROFILE = """\
py-spy samples `mfile compile` of the N = 1,000 workflow (100 Hz, several compiles pooled
because one gives only ~150 samples). A sample counts for the first phase found from the
outermost frame inwards, so a module imported lazily inside codegen counts as codegen and
one imported at start-up as imports. Sampling includes time blocked in file writes."""


GOALS = """\
The goals of issue 15, each against a peer or a ceiling measured in the same run (sections
below; the ratio is what the verdict and CI use, never an absolute time, except where the
goal itself is absolute). `benchmarks/run.py --quick`, run by `.ci/run`, measures the same
rows at smaller sizes, writes only `benchmarks/.work/quick-results.json`, and fails when a
goal recorded here as met (the `goals:` comment below the table) is missed by more than a
factor 1.25 (a ratio goal of ≤ 5× fails CI above 6.25×, one of ≥ 5× below 4×)."""

GOALS_SECTION = """\
Measured by the section `goals` of `benchmarks/run.py` (`benchmarks/suite/goals.py`): each
mfile figure interleaved with its reference. Parse speed is CPU time in one process, best
of several runs, after a first parse has loaded the grammar. The header count walks
`plan.json` and counts every item header it holds. The run overhead is the slope between
two sizes of the planning workflow (tiny data, one task at a time), free of the fixed cost
of compiling and starting.

Every section byte-compiles mfile's sources first (`python -m compileall`), as `pip install`
does for an installed mfile and did for the peers: this machine sets
`PYTHONDONTWRITEBYTECODE`, under which a source tree never gets its `.pyc` files and every
`mfile` process compiled its modules from source (about 0.08 s CPU of a 0.43 s
`mfile check`), which no user's installation pays."""


def texts() -> dict[str, str]:
    return {"planning": PLANNING, "profile": PROFILE, "sweep": SWEEP, "data": DATA, "lint": LINT, "goals": GOALS_SECTION,
            "goals_intro": GOALS}
