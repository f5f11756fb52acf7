"""Types along the pipeline (E2xx): port types of each kind, the builtins' typing rules, and
the comparison of what a producer gives with what a consumer wants.

Errors come in two parts, as in Kubeflow's compiler: the caller names the context (input
port, task), :func:`mfile.plan.types.compare` the mismatch.
"""

from __future__ import annotations

import re
from typing import Any

from mfile.compiler.builtins import METRIC_MODES
from mfile.compiler.messages import (
    BadBuiltinParam,
    DroppedColumn,
    JoinClash,
    MissingColumn,
    NotAModel,
    PortTypeMismatch,
    UncheckedType,
    WideningCast,
)
from mfile.diagnostics import Reporter, Span
from mfile.plan.types import (
    FLOAT64,
    VOID,
    Column,
    DataType,
    Fundamental,
    Model,
    Tabular,
    compare,
)

_LAG = re.compile(r"^[1-9][0-9]*\s*(s|min|h|H|D|d|W)$")


def check_binding(
    reporter: Reporter, task: str, port: str, produced: DataType, wanted: DataType, span: Span
) -> bool:
    """Report what differs; True when the binding is usable."""
    if isinstance(produced, Fundamental) and produced.name == "void":
        if not (isinstance(wanted, Fundamental) and wanted.name == "void"):
            reporter.report(UncheckedType, span, task=task, port=port)
        return True
    ok = True
    for m in compare(produced, wanted):
        if m.severity == "error":
            ok = False
            reporter.report(
                PortTypeMismatch, span, task=task, port=port, reason=m.reason, path=m.path, wanted=m.wanted, got=m.got
            )
        elif m.severity == "widen":
            reporter.report(WideningCast, span, task=task, port=port, path=m.path, reason=m.reason)
        else:
            reporter.report(DroppedColumn, span, task=task, port=port, reason=m.reason)
    return ok


def as_model(reporter: Reporter, task: str, what: str, produced: DataType, span: Span) -> Model | None:
    if isinstance(produced, Model):
        return produced
    if isinstance(produced, Fundamental) and produced.name == "void":
        return Model(input=VOID, output=VOID)
    reporter.report(NotAModel, span, what=what, task=task, got=str(produced))
    return None


# --------------------------------------------------------------------------- builtin rules


def join_output(reporter: Reporter, task: str, inputs: list[tuple[str, DataType]], span: Span) -> DataType:
    columns: list[Column] = []
    owner: dict[str, str] = {}
    for port, datatype in inputs:
        if isinstance(datatype, Fundamental) and datatype.name == "void":
            return VOID  # a generic input: the joined type is only known at run time
        cols = datatype.columns if isinstance(datatype, Tabular) else (Column(name=port, type=datatype),)
        for col in cols:
            if col.name in owner:
                reporter.report(JoinClash, span, task=task, column=col.name, first=owner[col.name], second=port)
                continue
            owner[col.name] = port
            columns.append(col)
    return Tabular(columns=tuple(columns))


def check_split(reporter: Reporter, task: str, params: dict[str, Any], spans: dict[str, Span], at: Span) -> None:
    size = params.get("test_size")
    if size is not None and not (isinstance(size, (int, float)) and not isinstance(size, bool) and 0 < size < 1):
        reporter.report(
            BadBuiltinParam, spans.get("test_size", at), task=task, param="test_size",
            problem=f"is {size!r}; it must lie strictly between 0 and 1", hint="test_size=0.2",
        )  # fmt: skip
    by = params.get("by")
    if by is not None and by not in ("time", "random"):
        reporter.report(
            BadBuiltinParam, spans.get("by", at), task=task, param="by",
            problem=f"is {by!r}", hint='by="time" (no shuffling across time) or by="random"',
        )  # fmt: skip


def timelag_output(
    reporter: Reporter, task: str, produced: DataType, params: dict[str, Any], spans: dict[str, Span], at: Span
) -> DataType:
    lag = params.get("lag", "1h")
    if not (isinstance(lag, str) and _LAG.match(lag.strip())):
        reporter.report(
            BadBuiltinParam, spans.get("lag", at), task=task, param="lag",
            problem=f"is {lag!r}, not a time step", hint='a positive multiple of a unit: "1h", "6h", "1D", "30min"',
        )  # fmt: skip
    steps = params.get("steps", 1)
    if not (isinstance(steps, int) and not isinstance(steps, bool) and 1 <= steps <= 1000):
        reporter.report(
            BadBuiltinParam, spans.get("steps", at), task=task, param="steps",
            problem=f"is {steps!r}", hint="a whole number of lags between 1 and 1000",
        )  # fmt: skip
        steps = 1
    if not isinstance(produced, Tabular):
        return produced
    lag_column = params.get("lag_column", "time")
    if produced.column(lag_column) is not None and not _time_like(produced.column(lag_column)):
        reporter.report(
            BadBuiltinParam, spans.get("lag_column", at), task=task, param="lag_column",
            problem=f"{lag_column!r} is a {produced.column(lag_column)} column, not a time axis",
            hint="lag along the time dimension (lag_column=\"time\") or an int64/datetime column",
        )  # fmt: skip
    wanted = [v for v in str(params.get("variables", "") or "").split(",") if v.strip()]
    for name in wanted:
        if produced.column(name.strip()) is None:
            reporter.report(
                MissingColumn, spans.get("variables", at), what=f"the input of {task!r}",
                column=name.strip(), available=", ".join(produced.names),
            )  # fmt: skip
    lagged = [c for c in produced.columns if (not wanted or c.name in wanted) and c.name != lag_column]
    extra = tuple(Column(name=f"{c.name}_lag{k}", type=c.type) for k in range(1, steps + 1) for c in lagged)
    return Tabular(columns=produced.columns + extra)


def _time_like(datatype: DataType) -> bool:
    return isinstance(datatype, Fundamental) and datatype.name in ("int64", "float64", "string", "uint64")


def _as_compared(label: Column, truth: DataType | None) -> Column:
    """The label column evaluate wants: the data's own integer width when both sides are integers."""
    if _is_integer(label.type) and truth is not None and _is_integer(truth):
        return Column(name=label.name, type=truth)
    return label


def _is_integer(datatype: DataType) -> bool:
    return isinstance(datatype, Fundamental) and datatype.name.lstrip("u").startswith("int")


def evaluate_types(
    reporter: Reporter,
    task: str,
    model: Model,
    metric: str,
    labels: list[str],
    data: DataType,
    span: Span,
) -> tuple[DataType, DataType]:
    """(what the data input must hold, the metrics output) for ``evaluate`` on ``model``.

    The data needs the model's input columns and the label columns: those named by
    ``label``, else every predicted column the data has (a classifier's ``logits`` are
    predicted but not labelled).
    """
    metrics = Tabular(columns=(Column(name=metric, type=FLOAT64),))
    if not (isinstance(model.input, Tabular) and isinstance(model.output, Tabular)):
        return VOID, metrics
    if labels:
        label_columns = []
        for name in labels:
            col = model.output.column(name)
            if col is None:
                reporter.report(
                    MissingColumn, span, what=f"the model's output (evaluate {task!r})",
                    column=name, available=", ".join(model.output.names),
                )  # fmt: skip
            else:
                label_columns.append(Column(name=name, type=col))
    elif isinstance(data, Tabular):
        label_columns = [c for c in model.output.columns if data.column(c.name) is not None]
        if not label_columns and model.output.columns:
            reporter.report(
                MissingColumn, span, what=f"input 'data' of {task!r}",
                column=model.output.columns[0].name, available=", ".join(data.names),
            )  # fmt: skip
    else:
        return VOID, metrics
    if isinstance(data, Tabular):  # truth is compared with predictions, not assigned: any int widths
        label_columns = [_as_compared(c, data.column(c.name)) for c in label_columns]
    return Tabular(columns=model.input.columns + tuple(label_columns)), metrics


def check_metric(reporter: Reporter, task: str, metric: Any, span: Span) -> str:
    if metric not in METRIC_MODES:
        reporter.report(
            BadBuiltinParam, span, task=task, param="metric", problem=f"is {metric!r}",
            hint="one of: " + ", ".join(sorted(METRIC_MODES)),
        )  # fmt: skip
        return "rmse"
    return str(metric)


def concrete(wanted: DataType, produced: DataType) -> DataType:
    """The type the runtime checks data against: the consumer's, unless it is generic."""
    if isinstance(wanted, Fundamental) and wanted.name == "void":
        return produced
    return wanted
