"""The typed IR that `mfile compile --emit ir` prints and plan.json embeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mfile.compiler.frontend import Checker
from mfile.plan.types import Model, Tabular, Tensor
from mfile.diagnostics import Reporter

CASES = Path(__file__).parent / "cases"
ITEMS = CASES / "items"
FULL = CASES / "ok" / "full_pipeline.mfile"


def program_of(path: Path):
    reporter = Reporter()
    program = Checker([ITEMS]).check_text(path.read_text(), path, reporter)
    assert not reporter.has_errors, reporter.reports
    return program


def test_full_pipeline_tasks_stages_and_edges() -> None:
    program = program_of(FULL)
    batch, inference = program.pipelines
    assert batch.name == "batch" and inference.name == "inference"
    assert [(s.name, s.tasks) for s in batch.stages] == [
        ("load", ("data", "joined")),
        ("train", ("split", "search")),
        ("deploy", ("deploy",)),
    ]
    joined = batch.task("joined")
    assert [(b.port, b.source_task, b.columns) for b in joined.inputs] == [
        ("input_0", "data", ("image",)),
        ("input_1", "data", ("label",)),
    ]
    output = dict((p.name, p.type) for p in joined.outputs)["output"]
    assert isinstance(output, Tabular) and output.names == ("image", "label")
    assert output.column("image") == Tensor(shape=(28, 28), component="float32")
    assert {(e.source, e.target) for e in batch.edges} == {
        ("data", "joined"),
        ("joined", "split"),
        ("split", "search"),
        ("search", "deploy"),
    }


def test_search_grid_points_and_wiring() -> None:
    search = program_of(FULL).pipelines[0].task("search")
    spec = search.search
    assert spec is not None and search.kind == "search"
    assert spec.grid == {"batch_size": (32, 64, 128)}
    assert spec.points == (
        {"net": {"batch_size": 32}},
        {"net": {"batch_size": 64}},
        {"net": {"batch_size": 128}},
    )
    assert (spec.metric_step, spec.metric_port, spec.metric_column, spec.mode, spec.throttle) == (
        "scores", "metrics", "accuracy", "max", 2,
    )  # fmt: skip
    net, scores = spec.steps
    assert [(b.port, b.source_task, b.source_port) for b in net.inputs] == [("input", "search", "data_train")]
    assert sorted((b.port, b.source_task, b.source_port) for b in scores.inputs) == [
        ("data", "search", "data_test"),
        ("model", "net", "model"),
    ]
    # configure(params=...) folded the arithmetic; configure(resources=...) reached the step
    assert net.params["learning_rate"] == 0.002
    assert (net.resources.tasks, net.resources.time) == (2, "00:10:00")
    best = dict((p.name, p.type) for p in search.outputs)["best_model"]
    assert isinstance(best, Model)


def test_inference_pipeline_reads_model_from_batch_pipeline() -> None:
    inference = program_of(FULL).pipelines[1]
    predict = inference.task("predict")
    assert predict.mode == "predict"
    assert predict.item is not None and predict.item.name == "test/net28"
    model = next(b for b in predict.inputs if b.port == "model")
    assert (model.source_task, model.source_pipeline) == ("deploy", "batch")


def test_emit_ir_is_deterministic(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "mfile.cli", "compile", str(FULL), "--items", str(ITEMS), "--emit", "ir"]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    second = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert first == second
    data = json.loads(first)
    assert [p["name"] for p in data["pipelines"]] == ["batch", "inference"]


def test_graph_dot_and_mermaid() -> None:
    from mfile.codegen.graph import render_graph

    batch = program_of(FULL).pipelines[0]
    dot = render_graph(batch, "dot")
    assert dot.startswith('digraph "batch" {') and "cluster_0" in dot
    assert '"search" -> "deploy"' in dot
    mermaid = render_graph(batch, "mermaid")
    assert mermaid.startswith("flowchart LR") and "t_search -->" in mermaid
