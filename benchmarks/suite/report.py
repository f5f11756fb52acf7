"""Turn the results (``benchmarks/.work/results.json``) into the terminal table,
``docs/benchmarks.md`` and the planning plot. Pure formatting: no measuring here."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from suite import goals as goals_mod
from suite.common import REPO

DOC = REPO / "docs" / "benchmarks.md"
PLOT = REPO / "docs" / "benchmarks-planning.png"
LABEL = {"mfile": "mfile compile", "snakemake": "snakemake -n", "kfp": "KFP compile"}
GOAL_RATIO = 5.0


def _s(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.1f}×"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def plot(planning: dict[str, Any]) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for i, (tool, by_n) in enumerate(planning.get("times", {}).items()):
        colour = f"C{i}"
        xs = sorted(int(n) for n in by_n)
        ax.plot(xs, [by_n[str(n)] for n in xs], marker="o", color=colour, label=f"{LABEL.get(tool, tool)} (wall)")
        cpu = planning.get("cpu", {}).get(tool, {})
        cx = sorted(int(n) for n in cpu)
        if cx:
            ax.plot(cx, [cpu[str(n)] for n in cx], marker=".", ls="--", color=colour, alpha=0.7, label=f"{LABEL.get(tool, tool)} (CPU)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tasks in the workflow (N)")
    ax.set_ylabel("planning time, median [s]")
    ax.set_xticks(sorted(int(n) for n in planning.get("sizes", [])) or [10])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{int(v):,}"))
    ax.set_title("Planning time vs workflow size (process start to plan on disk)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT)
    plt.close(fig)
    return PLOT


def _size_table(p: dict[str, Any], key: str, unit: str) -> list[str]:
    times = p.get(key, {})
    tools = [t for t in ("mfile", "snakemake", "kfp") if t in times]
    rows = []
    for n in p.get("sizes", []):
        row = [f"{n:,}"] + [_s(times.get(t, {}).get(str(n))) for t in tools]
        m = times.get("mfile", {}).get(str(n))
        row += [_ratio(times.get(t, {}).get(str(n)), m) for t in tools if t != "mfile"]
        rows.append(row)
    head = ["N"] + [f"{LABEL[t]} [{unit}]" for t in tools] + [f"{t} / mfile" for t in tools if t != "mfile"]
    return _table(head, rows)


def planning_lines(p: dict[str, Any]) -> list[str]:
    times = p.get("times", {})
    tools = [t for t in ("mfile", "snakemake", "kfp") if t in times]
    out = ["Wall time, median, process start to plan on disk:", ""] + _size_table(p, "times", "s")
    if p.get("cpu"):
        out += ["", "CPU time (user + system) of the same runs, median: less disturbed by other load on a shared machine:", ""]
        out += _size_table(p, "cpu", "s CPU")
    if p.get("profile_name") and p["profile_name"] != "local":
        out += ["", f"mfile used the profile `{p['profile_name']}` (the shipped `local` with a higher queue limit)."]
    out += ["", "Linear fit of the medians (time = intercept + slope·N):", ""]
    fit_rows = []
    for t in tools:
        f = p.get("fit", {}).get(t, {})
        fit_rows.append([LABEL[t], _s(1000 * f.get("slope", float("nan")), 3), _s(f.get("intercept"), 3),
                         _s(f.get("r2"), 4), _s(f.get("exponent"), 2)])  # fmt: skip
    out += _table(["tool", "per task [ms]", "intercept [s]", "R²", "log-log exponent, two largest N"], fit_rows)
    if p.get("fit_cpu"):
        out += ["", "The same fit of the CPU times:", ""]
        cpu_rows = []
        for t in tools:
            f = p["fit_cpu"].get(t, {})
            cpu_rows.append([LABEL[t], _s(1000 * f.get("slope", float("nan")), 3), _s(f.get("intercept"), 3),
                             _s(f.get("r2"), 4), _s(f.get("exponent"), 2)])  # fmt: skip
        out += _table(["tool", "per task [ms CPU]", "intercept [s CPU]", "R²", "log-log exponent, two largest N"], cpu_rows)
    for key, err in sorted(p.get("errors", {}).items()):
        out.append(f"\n- **{key} failed:** {err}")
    m, s = times.get("mfile", {}).get("1000"), times.get("snakemake", {}).get("1000")
    if m and s:
        ratio = s / m
        verdict = "met" if ratio >= GOAL_RATIO else f"**missed**: {ratio:.2f}× against {GOAL_RATIO:.0f}×, a factor {GOAL_RATIO / ratio:.1f} short"
        out += ["", f"Goal (mfile ≥ {GOAL_RATIO:.0f}× faster than `snakemake -n` at N = 1,000): {verdict}."]
    deep = p.get("deep")
    if deep:
        out += ["", f"A single chain of {deep['n']:,} tasks in a row (one run each, not in the fit):", ""]
        for tool in ("mfile", "snakemake"):
            if tool in deep:
                d = deep[tool]
                out.append(f"- {LABEL[tool]}: " + (f"{d['seconds']:.3f} s" if d["seconds"] is not None else f"failed: `{d['error']}`"))
    return out


def sweep_lines(s: dict[str, Any]) -> list[str]:
    rows = []
    for tool, label in (("mfile", "mfile submit"), ("snakemake", "Snakemake Slurm executor (default)"), ("submitit", "submitit map_array")):
        r = s.get(tool)
        if r is None:
            continue
        if "error" in r:
            rows.append([label, "failed", "", "", "", r["error"][:120]])
            continue
        sub = _s(r.get("submit_s"), 2) if "submit_s" in r else r.get("submit_error") or r.get("submit_note") or "not measured"
        calls = f"{r['sbatch_calls']:,}"
        if tool == "snakemake" and "sbatch_calls_logged" in r:
            calls += f" planned ({r['sbatch_calls_logged']:,} logged before the harness stopped it)"
        if tool == "mfile":
            calls += f" ({r.get('sbatch_calls_search', '?')} for the search)"
        rows.append([label, calls, f"{r['jobs']:,}", str(r.get("array_jobs", 0)), sub, r.get("how", "")])
    out = _table(["tool", "sbatch calls", "Slurm jobs (array tasks counted)", "array jobs", "submission wall time [s]", "counted from"], rows)
    slurm = s.get("slurm", {})
    out += ["", f"Local Slurm: {'up' if slurm.get('up') else 'down'} ({slurm.get('detail', '')})."]
    if s.get("submit_note"):
        out.append(f"{s['submit_note']}.")
    return out


def data_lines(d: dict[str, Any]) -> list[str]:
    gb = d["bytes"] / 1e9
    out = [f"Field: {d.get('shape_note', '')}, {gb:.2f} GB of data ({d['file_bytes'] / 1e9:.2f} GB file).", ""]
    rows = []
    dd = d.get("dd", {})
    if "write_gbps" in dd:
        rows.append(["dd write, fdatasync (ceiling)", "–", f"{dd['write_gbps']:.2f}"])
    if "read_gbps" in dd:
        rows.append(["dd read of the field (page cache likely warm)", "–", f"{dd['read_gbps']:.2f}"])
    b = d.get("baseline")
    if b:
        rows.append(["xarray + dask, one process: read, z-score, write", _s(b["process_s"], 2), f"{gb / b['process_s']:.2f}"])
    for ranks in (1, 2):
        m = d.get(f"mfile_{ranks}")
        if m:
            if ranks == 1:
                rows.append(["mfile hand-off (netcdf task: read source, write port)", _s(m["handoff_s"], 2), f"{gb / m['handoff_s']:.2f}"])
            rows.append([f"mfile normalize task, {ranks} rank(s)", _s(m["normalize_s"], 2), f"{gb / m['normalize_s']:.2f}"])
            rows.append([f"mfile run, whole pipeline, {ranks} rank(s)", _s(m["pipeline_s"], 2), f"{gb / m['pipeline_s']:.2f}"])
        elif d.get(f"mfile_{ranks}_error"):
            rows.append([f"mfile, {ranks} rank(s)", "failed", d[f"mfile_{ranks}_error"][:150]])
    out += _table(["what", "median [s]", "GB/s of field data"], rows)
    m1, m2 = d.get("mfile_1"), d.get("mfile_2")
    if m1 and m2:
        out += ["", f"normalize speed-up 1 → 2 ranks: {m1['normalize_s'] / m2['normalize_s']:.2f}× (in-task time "
                f"{_s(m1.get('normalize_in_task_s'), 2)} s → {_s(m2.get('normalize_in_task_s'), 2)} s)."]  # fmt: skip
    if b and m2:
        out.append(f"mfile pipeline (2 ranks) / xarray+dask one process: {m2['pipeline_s'] / b['process_s']:.2f}× the time.")
    for name, text in d.get("external", {}).items():
        out += ["", f"`benchmarks/{name}` (its own output):", "", "```", text, "```"]
    return out


def lint_lines(lint: dict[str, Any]) -> list[str]:
    out = [f"{lint['files']:,} workflows of {lint['tasks_per_file']} tasks each.", ""]
    rows = []
    m, s = lint.get("mfile", {}), lint.get("snakemake", {})
    if "seconds" in m:
        rows.append(["`mfile check DIR` (one process)", _s(m["seconds"], 2), _s(1000 * m["per_file_s"], 1), f"measured, median of {m['runs']}"])
    elif m:
        rows.append(["`mfile check DIR`", "failed", "", m.get("error", "")[:150]])
    if "per_file_s" in s:
        rows.append(["`snakemake --lint` (one process per Snakefile)", _s(s["estimated_s"], 0), _s(1000 * s["per_file_s"], 1),
                     f"median of {s['sample']} files × {lint['files']:,}; {s['files_with_lints']} reported lints"])  # fmt: skip
    elif s:
        rows.append(["`snakemake --lint`", "failed", "", s.get("error", "")[:150]])
    out += _table(["tool", f"time for {lint['files']:,} files [s]", "per file [ms]", "how"], rows)
    if "seconds" in m and "per_file_s" in s:
        out += ["", f"Ratio: mfile lints {s['estimated_s'] / m['seconds']:.0f}× faster."]
    return out


def profile_lines(p: dict[str, Any]) -> list[str]:
    if p.get("skipped"):
        return [f"Skipped: {p['skipped']}."]
    out = [f"`{p['command']}`: {p['samples']} samples pooled over {p['repeats']} compiles of the N = {p['n']:,} workflow.", ""]
    out += _table(["phase", "share of samples"], [[k, f"{100 * v:.0f}%"] for k, v in p["phases"]])
    out += ["", "Innermost mfile function per sample (and the library call it was in):", ""]
    out += _table(["where", "share"], [[f"`{k}`", f"{100 * v:.0f}%"] for k, v in p["hot_spots"]])
    return out


def goal_table(results: dict[str, Any]) -> list[str]:
    goals = goals_mod.evaluate(results)
    if not goals:
        return ["No goal measured yet."]
    rows = []
    for g in goals:
        ratio = "–" if g.ratio is None else f"{g.ratio:.2f}"
        verdict = "–" if g.met is None else ("met" if g.met else "**missed**")
        note = g.note or ("" if g.guarded else "not guarded")
        rows.append([f"`{g.id}`", g.what, g.mfile, g.reference, ratio, g.goal, verdict, note])
    out = _table(["goal", "what", "mfile", "peer / ceiling (same run)", "ratio", "goal", "verdict", "note"], rows)
    secs = results.get("sections", {})
    absent = [f"{name} ({what})" for name, what in (("planning", "compile vs `snakemake -n`"), ("data", "the data path"),
                                                     ("sweep", "sbatch calls of a sweep"), ("goals", "start-up, parse, plan size, run"))
              if "result" not in secs.get(name, {})]  # fmt: skip
    if absent:
        out += ["", f"Not in these results: {', '.join(absent)}. Their sections below keep the text of their last "
                "run (its command and date are given there); those goals get no verdict here and CI guards none of them."]  # fmt: skip
    return out + ["", goals_mod.record(goals)]


def goals_lines(g: dict[str, Any]) -> list[str]:
    out = []
    c = g.get("check", {})
    if "check_s" in c:
        out.append(f"- `mfile check examples/mnist/mnist.mfile`: {c['check_s']:.3f} s, `python -c pass` {c['pass_s']:.3f} s "
                   f"(medians of {c['runs']}, interleaved): {c['check_s'] / c['pass_s']:.1f}×.")  # fmt: skip
        if "check_cpu_s" in c:
            out.append(f"- The same in CPU time: {c['check_cpu_s']:.3f} s against {c['pass_cpu_s']:.3f} s: "
                       f"{c['check_cpu_s'] / c['pass_cpu_s']:.1f}×.")  # fmt: skip
        if c.get("imports_cpu_s"):
            parts = ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in c["imports_cpu_s"].items())
            out.append(f"- Start-up of `mfile check` by import, CPU time in a fresh process (median of 3): {parts}; "
                       f"{1000 * sum(c['imports_cpu_s'].values()):.0f} ms before the first file is read.")  # fmt: skip
    p = g.get("parse", {})
    if "mfile" in p:
        out.append(f"- Parsing {p['lines']:,} lines (the N = 1,000 workflow): mfile {p['mfile']:.3f} s, `ast.parse` "
                   f"{p['ast']:.3f} s CPU (best of runs, grammar already loaded): {p['mfile'] / p['ast']:.1f}×.")  # fmt: skip
    for n, pl in sorted(((k, v) for k, v in g.get("plan", {}).items() if k.isdigit()), key=lambda kv: int(kv[0])):
        out.append(f"- `plan.json` at N = {int(n):,}: {pl['bytes']:,} bytes, {pl['header_copies']:,} header copies, "
                   f"{pl['distinct_headers']} distinct headers.")  # fmt: skip
    r = g.get("run", {})
    if "per_task_s" in r:
        walls = ", ".join(f"N = {n}: {t:.2f} s" for n, t in r["wall_s"].items())
        out.append(f"- `mfile run -j 1` ({walls}): {r['per_task_s']:.3f} s per additional task.")
    for name, part in g.items():
        if isinstance(part, dict) and "error" in part:
            out.append(f"- **{name} failed:** {part['error']}")
    return out


SECTIONS = {
    "planning": ("1. Planning time vs workflow size", planning_lines),
    "profile": ("1b. Where mfile compile spends its time", profile_lines),
    "sweep": ("2. Scheduler load of a 1,000-point hyperparameter sweep", sweep_lines),
    "data": ("3. Data path", data_lines),
    "lint": ("4. Lint throughput", lint_lines),
    "goals": ("5. Start-up, parse speed, plan size, run overhead", goals_lines),
}


def _previous_sections(previous: str | None) -> dict[str, str]:
    """The body of each ``## title`` section of the last docs/benchmarks.md (from its
    ``Command:`` line on), kept where this run's results lack that section."""
    out: dict[str, str] = {}
    if not previous:
        return out
    for chunk in previous.split("\n## ")[1:]:
        title, _, body = chunk.partition("\n")
        start = body.find("Command: `")
        if start >= 0:
            out[title.strip()] = body[start:].strip()
    return out


def markdown(results: dict[str, Any], prose: dict[str, str], previous: str | None = None) -> str:
    mach = results.get("machine", {})
    out = ["# Benchmarks: mfile against Snakemake, Kubeflow Pipelines and submitit", "",
           "Generated by `benchmarks/run.py`; do not edit by hand (rerun it). Absolute times drift on",
           "shared machines: read the ratios, which are measured side by side in the same run.", "",
           "## Machine", ""]  # fmt: skip
    peers = mach.get("peers", {})
    out += _table(["", ""], [
        ["date", mach.get("date", "?")], ["CPU", f"{mach.get('cpu', '?')}, {mach.get('cores', '?')} cores"],
        ["memory", f"{mach.get('memory_gib', '?')} GiB"], ["OS", mach.get("os", "?")], ["Python", mach.get("python", "?")],
        ["mfile", mach.get("mfile", "?")],
        ["peers", ", ".join(f"{k} {v}" for k, v in peers.items())],
    ] + ([["load average at start (1 / 5 / 15 min)", mach["load"]]] if mach.get("load") else []))  # fmt: skip
    out += ["", "## Goals", "", prose.get("goals_intro", ""), ""] + goal_table(results)
    kept = _previous_sections(previous)
    for key, (title, fn) in SECTIONS.items():
        sec = results.get("sections", {}).get(key)
        out += ["", f"## {title}", ""]
        if prose.get(key):
            out += [prose[key], ""]
        if sec is None:
            out.append(kept.get(title, "Not run yet."))
            continue
        out += [f"Command: `{sec['command']}` ({sec['date']}{', quick mode' if sec['quick'] else ''}, {sec['wall_s']:.0f} s)", ""]
        if sec.get("error"):
            out.append(f"**The section failed:** {sec['error']}")
            continue
        if sec["result"].get("peers_unavailable"):
            out += [f"Peer columns unavailable: {sec['result']['peers_unavailable']}", ""]
        out += fn(sec["result"])
        if key == "planning" and PLOT.exists():
            out += ["", f"![planning time vs N]({PLOT.name})"]
    closing = prose.get("closing", "")
    old_closing = kept.get("Where goals are missed, and why") or ""
    if previous and "## Where goals are missed, and why" in previous:
        old_closing = previous.split("## Where goals are missed, and why", 1)[1].strip()
    new_heads = {line[:24] for line in closing.splitlines()}
    carried = [line for line in old_closing.splitlines() if line.startswith("- ") and line[:24] not in new_heads
               and any(title in kept for title, _ in SECTIONS.values()) and not line.startswith("- Goal `")]  # fmt: skip
    if carried:
        closing = "\n".join([*closing.splitlines(), *carried])
    if closing:
        out += ["", "## Where goals are missed, and why", "", closing]
    return "\n".join(out) + "\n"


def terminal(results: dict[str, Any]) -> str:
    out = ["== Goals", *goal_table(results)[:-1], ""]
    for key, (title, fn) in SECTIONS.items():
        sec = results.get("sections", {}).get(key)
        if sec is None or sec.get("error"):
            if sec:
                out += [f"== {title}", f"FAILED: {sec['error']}", ""]
            continue
        out += [f"== {title}", *fn(sec["result"]), ""]
    return "\n".join(out)
