"""``mfile graph``: a pipeline as Graphviz dot or Mermaid (stages as clusters)."""

from __future__ import annotations

import json

from mfile.diagnostics import terminal_safe
from mfile.plan import ir


def _label(task: ir.Task) -> str:
    if task.kind == "search":
        points = len(task.search.points) if task.search else 0
        return f"{task.id}\\nHyperParameterSearch ({points} points)"
    item = task.item.ref if task.item else "?"
    kind = "predict" if task.mode == "predict" else (task.item.kind if task.item else "?")
    return f"{task.id}\\n{item} ({kind})"


def _dot_string(text: str) -> str:
    # json.dumps gives a double-quoted string with backslashes and quotes escaped, which is
    # what dot expects; keep our deliberate "\n" line breaks.
    return json.dumps(text).replace("\\\\n", "\\n")


def render_dot(pipeline: ir.Pipeline) -> str:
    lines = [f"digraph {_dot_string(pipeline.name)} {{", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
    tasks = {t.id: t for t in pipeline.tasks}
    for i, stage in enumerate(pipeline.stages):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_dot_string(stage.name)};")
        for task_id in stage.tasks:
            if task_id in tasks:
                lines.append(f"    {_dot_string(task_id)} [label={_dot_string(_label(tasks[task_id]))}];")
        lines.append("  }")
    for edge in pipeline.edges:
        label = f"{edge.port}: {edge.type}"
        lines.append(f"  {_dot_string(edge.source)} -> {_dot_string(edge.target)} [label={_dot_string(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(task_id: str) -> str:
    return "t_" + "".join(c if c.isalnum() else "_" for c in task_id)


def _mermaid_text(text: str) -> str:
    # A raw line break (a stage name is any string) would end the quoted label and the line;
    # other controls (ESC, 8-bit CSI) and bidi overrides would drive or fool a terminal.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br/>")
    return terminal_safe(text.replace('"', "#quot;").replace("\\n", "<br/>"))


def render_mermaid(pipeline: ir.Pipeline) -> str:
    lines = ["flowchart LR"]
    tasks = {t.id: t for t in pipeline.tasks}
    for i, stage in enumerate(pipeline.stages):
        lines.append(f'  subgraph stage_{i}["{_mermaid_text(stage.name)}"]')
        for task_id in stage.tasks:
            if task_id in tasks:
                lines.append(f'    {_mermaid_id(task_id)}["{_mermaid_text(_label(tasks[task_id]))}"]')
        lines.append("  end")
    for edge in pipeline.edges:
        label = _mermaid_text(f"{edge.port}: {edge.type}")
        lines.append(f'  {_mermaid_id(edge.source)} -->|"{label}"| {_mermaid_id(edge.target)}')
    return "\n".join(lines) + "\n"


def render_graph(pipeline: ir.Pipeline, fmt: str) -> str:
    return render_mermaid(pipeline) if fmt == "mermaid" else render_dot(pipeline)
