"""``mfile items list`` and ``mfile items show``: what a user reads before wiring an item in."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from mfile.compiler.headers.catalog import ItemCatalog, ResolvedItem
from mfile.compiler.headers.loader import KNOWN_FIELDS, Header, ResolvedHeader
from mfile.diagnostics import Reporter, Span, render_text, terminal_safe
from mfile.plan.types import DataType, Tabular

COMMAND_LINE = "<command line>"


def _emit(reporter: Reporter, stream: TextIO) -> None:
    sources: dict[str, str] = {}
    for report in reporter.reports:
        path = Path(report.span.file)
        if report.span.file not in sources and path.is_file():
            try:
                sources[report.span.file] = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                pass
    text = render_text(reporter.sorted(), sources)
    if text:
        stream.write(text)


def list_items(roots: list[Path], out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    reporter = Reporter()
    items = ItemCatalog(roots).all(reporter)
    rows = [("ITEM", "KIND", "BRIDGE", "PATH")]
    rows += [(i.ref.ref, i.ref.kind, i.header.bridge or "-", _short(Path(i.ref.directory))) for i in items]
    rows = [tuple(terminal_safe(cell) for cell in row) for row in rows]  # names and paths are user text
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3] + "\n")
    _emit(reporter, err)
    return 1 if reporter.has_errors else 0


def show_item(name: str, roots: list[Path], out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    reporter = Reporter()
    span = Span.whole_file(COMMAND_LINE)
    item = ItemCatalog(roots).resolve(name, reporter, span)
    resolved = item.header.resolve({}, reporter, span) if item is not None else None
    if item is not None and resolved is not None:
        out.write("\n".join(terminal_safe(line) for line in describe(item, resolved).split("\n")))
    _emit(reporter, err)
    return 1 if reporter.has_errors or item is None or resolved is None else 0


def describe(item: ResolvedItem, resolved: ResolvedHeader) -> str:
    h: Header = item.header
    lines = [f"{item.ref.ref}  ({h.kind})" + ("  [highest version]" if item.latest else "")]
    for label, value in (
        ("path", _short(Path(item.ref.directory))),
        ("header sha256", h.sha256),
        ("bridge", h.bridge),
        ("trained bridge", h.trained_bridge if h.kind == "trainable" else None),
        ("author", h.author),
    ):
        if value:
            lines.append(f"  {label + ':':<16}{value}")
    if h.meta_variables:
        lines.append("  metaVariables (set with configure(params={...})):")
        width = max(len(mv.name) for mv in h.meta_variables)
        for mv in h.meta_variables:
            fixed = "  (fixed)" if mv.fix else ""
            lines.append(f"    {mv.name:<{width}}  {str(mv.type):<10} = {mv.value!r}{fixed}")
    lines.append("  ports (types with the metaVariables' values):")
    ports: list[tuple[str, DataType | None]] = []
    if h.kind == "dataset":
        ports = [("output", resolved.dataset_type)]
    elif h.kind == "trainable":
        ports = [("training input", resolved.training), ("stats", resolved.stats),
                 ("model input", resolved.input), ("model output", resolved.output)]  # fmt: skip
    else:
        ports = [("input", resolved.input), ("output", resolved.output)]
    for label, datatype in ports:
        if datatype is not None:
            lines.extend(_type_lines(label, datatype))
    lines.append("  execution:")
    given = h.execution.model_dump(exclude={"origin"}, exclude_defaults=True)
    if given:
        lines.extend(f"    {key}: {_value(value)}" for key, value in given.items())
    else:
        lines.append("    (site profile defaults)")
    extra = [k for k in h.raw if k not in KNOWN_FIELDS]
    if extra:
        lines.append(f"  passed to the payload unchanged: {', '.join(extra)}")
    return "\n".join(lines) + "\n"


def _type_lines(label: str, datatype: DataType) -> list[str]:
    if isinstance(datatype, Tabular) and datatype.columns:
        width = max(len(c.name) for c in datatype.columns)
        return [f"    {label}:"] + [f"      {c.name:<{width}}  {c.type}" for c in datatype.columns]
    return [f"    {label}: {datatype}"]


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
