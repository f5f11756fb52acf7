"""Hand-built IR for the codegen tests (the front end is written separately).

``mnist_program``: dataset -> split -> train (1 GPU) -> evaluate, save; three stages.
``era5_program``: data-parallel normalisation (MPI ranks on 2 nodes), DDP training on 8 GPUs,
and a hyperparameter search (6 grid points, throttle 3) with a train and an evaluate step.
Parameters carry shell metacharacters on purpose: they must reach plan.json unchanged.
"""

from __future__ import annotations

import hashlib
from typing import Any

from mfile.plan import ir
from mfile.plan.types import Column, Fundamental, Model, Tabular, Tensor
from mfile.plan.manifest import HeaderInfo, SourceInfo

SOURCE = "/work/examples/pipeline.mfile"
HOSTILE = ["'; touch /tmp/mfile-pwned; '", "$(reboot)", "`id`", "a\nb", '"; exit 1; "']

F32 = Fundamental(name="float32")
IMAGES = Tabular(columns=(Column(name="image", type=Tensor(shape=(8, 8), component="float32")), Column(name="label", type=Fundamental(name="int64"))))
FIELD = Tabular(columns=(Column(name="t2m", type=Tensor(shape=(61, 120), component="float32")),))
MODEL = Model(input=IMAGES, output=Tabular(columns=(Column(name="label", type=Fundamental(name="int64")),)))
METRICS = Tabular(columns=(Column(name="accuracy", type=Fundamental(name="float64")),))


def loc(line: int, column: int = 1, width: int = 10) -> ir.Loc:
    return ir.Loc(file=SOURCE, line=line, column=column, end_line=line, end_column=column + width)


def item(name: str, kind: str, directory: str | None = None) -> ir.ItemRef:
    ref, version = name.split(":")
    return ir.ItemRef(
        name=ref, version=version, kind=kind,  # type: ignore[arg-type]
        directory=directory or f"/p/project/items/{ref}/{version}",
        header_sha256=hashlib.sha256(name.encode()).hexdigest(),
    )


def bind(port: str, source: str, source_port: str = "output", datatype: Any = IMAGES) -> ir.Binding:
    return ir.Binding(port=port, source_task=source, source_port=source_port, type=datatype)


def task(task_id: str, stage: str, ref: ir.ItemRef | None, line: int, *, inputs=(), outputs=(), params=None,
         kind: str = "item", search: ir.SearchSpec | None = None, **resources: Any) -> ir.Task:
    # Each field written at its own column, so tests can tell which one a diagnostic points at.
    origin = {name: loc(line, 30 + 10 * i, 8) for i, name in enumerate(sorted(resources))}
    return ir.Task(
        id=task_id, kind=kind, stage=stage, item=ref, params=params or {},  # type: ignore[arg-type]
        resources=ir.Resources(**resources, origin=origin), inputs=tuple(inputs),
        outputs=tuple(outputs), search=search, loc=loc(line),
    )


def pipeline(name: str, tasks: list[ir.Task], stages: dict[str, list[str]]) -> ir.Pipeline:
    edges = tuple(
        ir.Edge(source=b.source_task, target=t.id, port=b.port, type=str(b.type)) for t in tasks for b in t.inputs
    )
    return ir.Pipeline(
        name=name, stages=tuple(ir.Stage(name=s, tasks=tuple(ids)) for s, ids in stages.items()),
        tasks=tuple(tasks), edges=edges, loc=loc(1),
    )


def program(*pipelines: ir.Pipeline) -> ir.Program:
    return ir.Program(source=SOURCE, source_sha256=hashlib.sha256(b"src").hexdigest(), pipelines=pipelines)


def mnist_tasks(**train_resources: Any) -> list[ir.Task]:
    train_resources = train_resources or {"gpus": 1, "time": "00:30:00"}
    return [
        task("digits", "prepare", item("mfile/digits:1.0", "dataset"), 3,
             outputs=[ir.Port(name="output", type=IMAGES)], params={"note": HOSTILE[0], "cmd": HOSTILE[1]}),
        task("split", "prepare", item("mfile/train_test_split:1.0", "algorithm"), 4,
             inputs=[bind("input", "digits")], params={"fraction": 0.2}),
        task("train", "train", item("demo/mnist-cnn:1.0", "trainable"), 6,
             inputs=[bind("input", "split", "train")], params={"epochs": 3, "tag": HOSTILE[2]}, **train_resources),
        task("evaluate", "train", item("mfile/evaluate:1.0", "algorithm"), 8,
             inputs=[bind("model", "train", "model", MODEL), bind("data", "split", "test")], params={"metric": "accuracy"}),
        task("save", "deploy", item("mfile/save_model:1.0", "deployment"), 9,
             inputs=[bind("model", "train", "model", MODEL)]),
    ]


def mnist_program(**train_resources: Any) -> ir.Program:
    tasks = mnist_tasks(**train_resources)
    return program(pipeline("mnist", tasks, {"prepare": ["digits", "split"], "train": ["train", "evaluate"], "deploy": ["save"]}))


def search_spec(points: int = 6, throttle: int | None = 3) -> ir.SearchSpec:
    fit = task("fit", "search", item("demo/unet:2.1", "trainable"), 20, inputs=[bind("input", "tune", "input", FIELD)],
               gpus=1, time="01:00:00")
    score = task("score", "search", item("mfile/evaluate:1.0", "algorithm"), 21,
                 inputs=[bind("model", "fit", "model", MODEL), bind("data", "tune", "input", FIELD)])
    lrs = [10.0 ** -(i + 2) for i in range(points)]
    return ir.SearchSpec(
        steps=(fit, score), hyperparameters=("lr",), grid={"lr": tuple(lrs)},
        points=tuple({"fit": {"lr": lr}} for lr in lrs),
        metric_step="score", metric_port="metrics", metric_column="accuracy", mode="max", throttle=throttle,
    )


def era5_program(points: int = 6) -> ir.Program:
    tasks = [
        task("era5", "prepare", item("demo/era5:1.0", "dataset"), 3, outputs=[ir.Port(name="output", type=FIELD)],
             params={"path": "/p/scratch/era5 'levels'.grib", "evil": HOSTILE[1]}),
        task("normalize", "prepare", item("mfile/normalize:1.0", "algorithm"), 5, inputs=[bind("input", "era5", datatype=FIELD)],
             parallel="data", nodes=2, tasks=8, cpus_per_task=6, memory="64G", time="00:20:00"),
        task("train", "train", item("demo/unet:2.1", "trainable"), 7, inputs=[bind("input", "normalize", datatype=FIELD)],
             nodes=2, gpus=4, time="02:00:00", sbatch_extra=("--comment=era5-unet", "--mail-type=END")),
        task("tune", "tune", None, 9, kind="search", inputs=[bind("input", "normalize", datatype=FIELD)],
             search=search_spec(points)),
        task("save", "deploy", item("mfile/save_model:1.0", "deployment"), 11, inputs=[bind("model", "tune", "best_model", MODEL)]),
    ]
    return program(pipeline("era5", tasks, {"prepare": ["era5", "normalize"], "train": ["train"], "tune": ["tune"], "deploy": ["save"]}))


SOURCE_INFO = SourceInfo(path=SOURCE, sha256=hashlib.sha256(b"src").hexdigest())
HEADERS = (HeaderInfo(ref="demo/mnist-cnn:1.0", path="/p/project/items/demo/mnist-cnn/1.0/MantikHeader", sha256="0" * 64),)
