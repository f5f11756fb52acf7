"""Generate the M-Files and the item root that the benchmarks compile, lint and submit.

Every workflow here has a twin in ``peers/gen_snakefile.py`` and ``peers/gen_kfp.py``: the
same DAG, the same containers, the same parameters, written the way each tool's users write
it. The shape (``planning_shape``) lives here and the peers import it, so the three tools
can never disagree on what "N tasks" means.

The M-File language has no loops, so an M-File of N tasks names N tasks; that is what a user
writes (or generates) and what ``mfile compile`` has to read.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

# The planning DAG: a preprocessing chain (load -> regrid -> normalize -> features) and then
# a fan-out of ensemble members, each trained and then evaluated: depth CHAIN + MEMBER_STEPS,
# width members. Kept shallow on purpose: real pipelines are wide, not 5,000 deep.
CHAIN = 4
MEMBER_STEPS = 2
CHAIN_NAMES = ("load", "regrid", "normalize", "features")
MEMBER_NAMES = ("train", "score")

# Images named in every tool's workflow (never pulled: planning and dry runs don't run them).
IMAGE_SOURCE = "images/bench-source.sif"
IMAGE_STEP = "images/bench-step.sif"

SOURCE_ITEM = "bench/source:1"
STEP_ITEM = "bench/step:1"
TRAIN_ITEM = "bench/train:1"


@dataclass(frozen=True)
class Shape:
    """How N tasks are laid out: ``chain`` tasks in a row, then ``members`` branches."""

    n: int
    chain: int
    members: int
    member_steps: int

    @property
    def tasks(self) -> int:
        return self.chain + self.members * self.member_steps


def planning_shape(n: int) -> Shape:
    if n < CHAIN + MEMBER_STEPS or (n - CHAIN) % MEMBER_STEPS:
        raise ValueError(f"N={n}: need N >= {CHAIN + MEMBER_STEPS} and N - {CHAIN} even")
    return Shape(n=n, chain=CHAIN, members=(n - CHAIN) // MEMBER_STEPS, member_steps=MEMBER_STEPS)


def sweep_grid(points: int) -> dict[str, list[float | int]]:
    """A two-hyperparameter grid with exactly ``points`` points (lr x batch size)."""
    batches = [16, 32, 64, 128, 256, 512, 1024, 2048]
    for nb in range(min(len(batches), points), 0, -1):
        if points % nb == 0:
            nl = points // nb
            lrs = [round(1e-4 * (1 + i), 6) for i in range(nl)]
            return {"lr": lrs, "batch_size": batches[:nb]}
    raise AssertionError("unreachable: nb=1 always divides")


# --------------------------------------------------------------------------- item root

_SOURCE_HEADER = f"""\
name: source
kind: dataset
metaVariables:
  - name: seed
    type: int32
    value: 0
  - name: samples
    type: int32
    value: 64
type:
  columns:
    x: float32
    y: float32
execution:
  container: {IMAGE_SOURCE}
"""

_STEP_HEADER = f"""\
name: step
kind: algorithm
metaVariables:
  - name: scale
    type: int32
    value: 1
  - name: step
    type: int32
    value: 0
type:
  input:
    columns:
      x: float32
      y: float32
  output:
    columns:
      x: float32
      y: float32
execution:
  container: {IMAGE_STEP}
"""

_TRAIN_HEADER = f"""\
name: train
kind: trainable
metaVariables:
  - name: lr
    type: float64
    value: 0.001
  - name: batch_size
    type: int32
    value: 32
trainingType:
  columns:
    x: float32
    y: float32
statType:
  columns:
    loss: float64
type:
  input:
    columns:
      x: float32
  output:
    columns:
      y: float32
execution:
  container: {IMAGE_STEP}
"""

# Real payloads (small numpy/xarray code) so that the generated workflows also run with
# `mfile run`; planning and linting never import them.
_SOURCE_PAYLOAD = '''\
import numpy as np
import xarray as xr


def load(params, ctx):
    n = int(params.get("samples", 64))
    rng = np.random.default_rng(int(params.get("seed", 0)))
    x = rng.normal(size=n).astype("float32")
    y = (2.0 * x + 1.0).astype("float32")
    return xr.Dataset({"x": ("sample", x), "y": ("sample", y)}, attrs={"sample_dim": "sample"})
'''

_STEP_PAYLOAD = '''\
def apply(inputs, params, ctx):
    ds = inputs["input"]
    return ds.assign(x=ds["x"] * float(params.get("scale", 1.0)))
'''

_TRAIN_PAYLOAD = '''\
import json

import numpy as np
import xarray as xr


def train(inputs, params, ctx):
    ds = inputs["input"]
    x, y = ds["x"].values.astype("float64"), ds["y"].values.astype("float64")
    w, b, lr = 0.0, 0.0, float(params.get("lr", 0.001))
    for _ in range(100):
        err = w * x + b - y
        w -= lr * float(np.mean(err * x))
        b -= lr * float(np.mean(err))
    loss = float(np.mean((w * x + b - y) ** 2))
    return {"w": w, "b": b}, xr.Dataset({"loss": ("epoch", np.array([loss]))})


def save(model, directory, params, ctx):
    (directory / "weights.json").write_text(json.dumps(model))


def predict(directory, inputs, params, ctx):
    m = json.loads((directory / "weights.json").read_text())
    ds = inputs["input"]
    return xr.Dataset({"y": ds["x"] * m["w"] + m["b"]}, attrs=ds.attrs)
'''

ITEMS = {
    "bench/source/1": (_SOURCE_HEADER, _SOURCE_PAYLOAD),
    "bench/step/1": (_STEP_HEADER, _STEP_PAYLOAD),
    "bench/train/1": (_TRAIN_HEADER, _TRAIN_PAYLOAD),
}


def write_item_root(root: Path) -> Path:
    """Write the benchmark items under ``root`` (idempotent); returns ``root``."""
    for rel, (header, payload) in ITEMS.items():
        d = root / rel
        d.mkdir(parents=True, exist_ok=True)
        (d / "MantikHeader").write_text(header, encoding="utf-8")
        (d / "payload.py").write_text(payload, encoding="utf-8")
    return root


# --------------------------------------------------------------------------- M-Files


def task_ids(shape: Shape) -> tuple[list[str], list[list[str]]]:
    """The task names, shared with the peers so that every tool builds the same DAG."""
    chain = [CHAIN_NAMES[i] if i < len(CHAIN_NAMES) else f"chain{i}" for i in range(shape.chain)]
    members = [[f"m{m}_{MEMBER_NAMES[s]}" for s in range(shape.member_steps)] for m in range(shape.members)]
    return chain, members


def planning_mfile(n: int) -> str:
    shape = planning_shape(n)
    chain, members = task_ids(shape)
    out = [
        f'"""Benchmark workflow: a chain of {shape.chain} tasks, then {shape.members} members '
        f'x {shape.member_steps} steps ({shape.tasks} tasks)."""',
        "",
        f'{chain[0]} = MantikItem(name="{SOURCE_ITEM}").configure(params={{"seed": 0}})',
    ]
    for i, name in enumerate(chain[1:], start=1):
        out.append(f'{name} = MantikItem(name="{STEP_ITEM}").configure(params={{"scale": {i}}})')
    for m, steps in enumerate(members):
        for s, name in enumerate(steps):
            out.append(f'{name} = MantikItem(name="{STEP_ITEM}").configure(params={{"scale": {m}, "step": {s}}})')
    out += ["", "bench = MantikPipeline(", "    stages={", '        "chain": [', f"            {chain[0]},"]
    for prev, name in zip(chain, chain[1:]):
        out.append(f"            {name}.set_input({prev}.output),")
    out += ["        ],", '        "members": [']
    for steps in members:
        prev = chain[-1]
        for name in steps:
            out.append(f"            {name}.set_input({prev}.output),")
            prev = name
    out += ["        ],", "    }", ")", ""]
    return "\n".join(out)


def chain_mfile(n: int) -> str:
    """``n`` tasks in a single line (depth n): the shape that breaks recursive planners."""
    out = [f'"""Benchmark: a chain of {n} tasks in a row."""', ""]
    out.append(f's0 = MantikItem(name="{SOURCE_ITEM}").configure(params={{"seed": 0}})')
    for i in range(1, n):
        out.append(f's{i} = MantikItem(name="{STEP_ITEM}").configure(params={{"scale": {i}}})')
    out += ["", "chain = MantikPipeline(", "    stages={", '        "chain": [', "            s0,"]
    out += [f"            s{i}.set_input(s{i - 1}.output)," for i in range(1, n)]
    out += ["        ],", "    }", ")", ""]
    return "\n".join(out)


def sweep_mfile(points: int) -> str:
    """A hyperparameter search over ``points`` grid points: one train + evaluate per point."""
    grid = sweep_grid(points)
    lrs = ", ".join(repr(v) for v in grid["lr"])
    batches = ", ".join(repr(v) for v in grid["batch_size"])
    return f'''"""Benchmark sweep: {points} grid points (lr x batch_size), select the lowest rmse."""

data = MantikItem(name="{SOURCE_ITEM}").configure(params={{"seed": 0, "samples": 256}})
lr = HyperParameter()
batch_size = HyperParameter()
train = MantikItem(name="{TRAIN_ITEM}").configure(params={{"lr": lr, "batch_size": batch_size}})
score = evaluate(metric="rmse")
train_and_score = pipeline_component(train, score)
train_and_score.train.set_input_name("data_train")
train_and_score.score.set_input_name("data_test")
search = HyperParameterSearch(
    train_and_score,
    hyperparameters={{
        "lr": [{lrs}],
        "batch_size": [{batches}],
    }},
    metric=train_and_score.score.metric,
)

sweep = MantikPipeline(
    stages={{
        "data": [data, train_test_split(data=[data.output], reference="split")],
        "search": [search.set_input(data_train=split.output.train, data_test=split.output.test)],
    }}
)
'''


def lint_corpus(directory: Path, count: int, tasks: int = 10) -> list[Path]:
    """``count`` M-Files of ``tasks`` tasks each, as a large repository of workflows would hold.

    Files differ (seed and scale) so that no tool can dedupe its work across files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    base = planning_mfile(tasks)
    paths = []
    for i in range(count):
        p = directory / f"wf{i:04d}.mfile"
        p.write_text(base.replace('{"seed": 0}', f'{{"seed": {i}}}'), encoding="utf-8")
        paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["planning", "sweep", "items"])
    ap.add_argument("-n", type=int, default=10, help="tasks (planning) or grid points (sweep)")
    ap.add_argument("-o", "--output", type=Path, help="file (or item root) to write; default stdout")
    args = ap.parse_args(argv)
    if args.what == "items":
        if not args.output:
            ap.error("items needs -o ROOT")
        write_item_root(args.output)
        return 0
    text = planning_mfile(args.n) if args.what == "planning" else sweep_mfile(args.n)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
