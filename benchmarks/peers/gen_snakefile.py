"""Snakefiles equivalent to the benchmark M-Files (``gen_mfile.py``), written as a Snakemake
user writes them: one rule per kind of step with a ``container:`` directive, the fan-out
over ensemble members as a ``{m}`` wildcard expanded by the target rule (so the rule count
stays small, as in real Snakefiles, while the job count equals the M-File's task count).

Every rule has a ``log:`` so that ``snakemake --lint`` judges the workflow, not missing
boilerplate.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gen_mfile import (  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)
    IMAGE_SOURCE,
    IMAGE_STEP,
    planning_shape,
    sweep_grid,
    task_ids,
)

CMD_SOURCE = "python -m bench.source --seed {params.seed} {output} > {log} 2>&1"
CMD_STEP = "python -m bench.step --scale {params.scale} --step {params.step} {input} {output} > {log} 2>&1"


def _rule(name: str, inp: str | None, out: str, image: str, params: dict[str, str], cmd: str) -> str:
    lines = [f"rule {name}:"]
    if inp:
        lines.append(f'    input: "{inp}"')
    lines.append(f'    output: "{out}"')
    lines.append(f'    log: "{out.replace("results/", "logs/").rsplit(".", 1)[0]}.log"')
    lines.append("    params: " + ", ".join(f"{k}={v}" for k, v in params.items()))
    lines.append(f'    container: "{image}"')
    lines.append(f'    shell: "{cmd}"')
    return "\n".join(lines) + "\n"


def planning_snakefile(n: int) -> str:
    shape = planning_shape(n)
    chain, members = task_ids(shape)
    steps = [name.split("_", 1)[1] for name in members[0]]
    last = f"results/m{{m}}/{steps[-1]}.nc"
    parts = [
        f"# Benchmark workflow: a chain of {shape.chain} rules, then {shape.members} members "
        f"x {shape.member_steps} steps ({shape.tasks} jobs plus the target rule).\n",
        f"MEMBERS = range({shape.members})\n",
        "localrules: all\n",
        "rule all:\n" f'    input: expand("{last}", m=MEMBERS)\n',
        _rule(chain[0], None, f"results/{chain[0]}.nc", IMAGE_SOURCE, {"seed": "0"}, CMD_SOURCE),
    ]
    for i, (prev, name) in enumerate(zip(chain, chain[1:]), start=1):
        parts.append(
            _rule(name, f"results/{prev}.nc", f"results/{name}.nc", IMAGE_STEP, {"scale": str(i), "step": "0"}, CMD_STEP)
        )
    prev_out = f"results/{chain[-1]}.nc"
    for s, step in enumerate(steps):
        out = f"results/m{{m}}/{step}.nc"
        parts.append(
            _rule(step, prev_out, out, IMAGE_STEP, {"scale": "lambda wc: int(wc.m)", "step": str(s)}, CMD_STEP)
        )
        prev_out = out
    return "\n".join(parts)


def chain_snakefile(n: int) -> str:
    """Twin of ``gen_mfile.chain_mfile``: ``n`` rules in a single line."""
    parts = [f"# Benchmark: a chain of {n} rules in a row.\n", "localrules: all\n",
             f'rule all:\n    input: "results/s{n - 1}.nc"\n',
             _rule("s0", None, "results/s0.nc", IMAGE_SOURCE, {"seed": "0"}, CMD_SOURCE)]  # fmt: skip
    for i in range(1, n):
        parts.append(
            _rule(f"s{i}", f"results/s{i - 1}.nc", f"results/s{i}.nc", IMAGE_STEP, {"scale": str(i), "step": "0"}, CMD_STEP)
        )
    return "\n".join(parts)


def sweep_snakefile(points: int) -> str:
    """The sweep as Snakemake users write it: a wildcard rule per grid point, then a select
    rule that reads every point's metrics (the Slurm executor submits one job per point)."""
    grid = sweep_grid(points)
    return f'''# Benchmark sweep: {points} grid points (lr x batch_size), select the lowest rmse.

LRS = {grid["lr"]!r}
BATCHES = {grid["batch_size"]!r}
POINTS = expand("lr{{lr}}_bs{{bs}}", lr=LRS, bs=BATCHES)

localrules: all

rule all:
    input: "results/best.json"

rule data:
    output: train="results/split/train.nc", test="results/split/test.nc"
    log: "logs/data.log"
    container: "{IMAGE_SOURCE}"
    shell: "python -m bench.source --seed 0 --split {{output.train}} {{output.test}} > {{log}} 2>&1"

rule train_and_score:
    input: train="results/split/train.nc", test="results/split/test.nc"
    output: "results/points/{{point}}/metrics.json"
    log: "logs/points/{{point}}.log"
    container: "{IMAGE_STEP}"
    shell: "python -m bench.train --point {{wildcards.point}} {{input.train}} {{input.test}} {{output}} > {{log}} 2>&1"

rule select:
    input: expand("results/points/{{point}}/metrics.json", point=POINTS)
    output: "results/best.json"
    log: "logs/select.log"
    container: "{IMAGE_STEP}"
    shell: "python -m bench.select --metric rmse --mode min {{input}} > {{output}} 2> {{log}}"
'''


def lint_corpus(directory: Path, count: int, tasks: int = 10) -> list[Path]:
    """``count`` Snakefiles, twins of ``gen_mfile.lint_corpus``, one workflow folder each
    (``snakemake --lint`` reads one Snakefile per process)."""
    base = planning_snakefile(tasks)
    paths = []
    for i in range(count):
        d = directory / f"wf{i:04d}"
        d.mkdir(parents=True, exist_ok=True)
        p = d / "Snakefile"
        p.write_text(base.replace("seed=0", f"seed={i}"), encoding="utf-8")
        paths.append(p)
    return paths


if __name__ == "__main__":
    what, n = sys.argv[1], int(sys.argv[2])
    sys.stdout.write(planning_snakefile(n) if what == "planning" else sweep_snakefile(n))
