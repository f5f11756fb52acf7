"""One pipeline of the IR: stage entries → tasks with bound, checked, typed inputs."""

from __future__ import annotations

from mfile.compiler.messages import (
    Cycle,
    DuplicateTask,
    EmptyPipeline,
    ReservedTaskId,
    SetInputOnDataset,
    StageOrder,
    TaskIdsDifferInCase,
    TaskNotInPipeline,
    UnconnectedInput,
    UnknownInputName,
    WrongInputCount,
)
from mfile.compiler.ports import OPTIONAL_INPUTS, input_ports
from mfile.compiler.search import GridBudget, build_search, component_inputs
from mfile.compiler.typecheck import check_binding, concrete
from mfile.compiler.typer import Typer, produced_type
from mfile.compiler.values import Member, OutputRef, PipelineDef, SearchDef, TaskDef, TaskUse, auto_id
from mfile.diagnostics import Reporter, Span
from mfile.plan import ir
from mfile.plan.manifest import RESERVED_TASK_IDS
from mfile.plan.types import VOID, DataType


class PipelineBuilder:
    def __init__(
        self, name: str, pdef: PipelineDef, typer: Typer, reporter: Reporter, members_of: dict[str, set[int]],
        grid_budget: GridBudget | None = None,
    ) -> None:
        self.name, self.pdef, self.typer, self.reporter = name, pdef, typer, reporter
        self.grid_budget = grid_budget if grid_budget is not None else GridBudget()  # shared by the M-File's pipelines
        self.members_of = members_of  # pipeline name -> ids of task objects, for cross-pipeline models
        self.members: list[Member] = []
        self.by_obj: dict[int, Member] = {}

    def build(self) -> ir.Pipeline | None:
        self.collect()
        if not self.members:
            if not self.pdef.had_errors:
                self.reporter.report(EmptyPipeline, self.pdef.span, pipeline=self.name)
            return None
        for member in self.members:
            self.bind(member)
        order = self.toposort()
        if order is None:
            return None  # a cycle: types along it mean nothing
        tasks, edges = [], []
        for member in order:
            task, member_edges = self.typed_task(member)
            tasks.append(task)
            edges.extend(member_edges)
        self.members_of[self.name] = {id(m.obj) for m in self.members}
        stages = tuple(
            ir.Stage(name=name, tasks=tuple(m.id for m in self.members if m.stage == name))
            for name, _, _ in self.pdef.stages
        )
        return ir.Pipeline(name=self.name, stages=stages, tasks=tuple(tasks), edges=tuple(edges), loc=ir.Loc.of(self.pdef.span))

    # ------------------------------------------------------------------ members

    def collect(self) -> None:
        taken: dict[str, Member] = {}
        for index, (stage, _, elements) in enumerate(self.pdef.stages):
            for element, span in elements:
                use = element if isinstance(element, TaskUse) else None
                obj = element.task if use else element
                first = self.by_obj.get(id(obj))
                if first is not None:
                    self.reporter.report(
                        DuplicateTask, span, task=first.id, pipeline=self.name, line=first.span.line
                    )
                    continue
                member = Member(obj, use, stage, index, span)
                base = obj.id or auto_id(obj)
                task_id, n = base, 1
                # File names in the run directory: compared without case (macOS, Windows shares)
                # and never state/jobs.json's name.
                while task_id.casefold() in taken or task_id.casefold() in RESERVED_TASK_IDS:
                    if obj.id and n == 1:
                        other = taken.get(task_id.casefold())
                        if other is None:
                            self.reporter.report(ReservedTaskId, span, task=task_id, path=RESERVED_TASK_IDS[task_id.casefold()])
                        elif other.id != task_id:
                            self.reporter.report(TaskIdsDifferInCase, span, task=task_id, other=other.id, line=other.span.line)
                        else:
                            self.reporter.report(
                                DuplicateTask, span, task=task_id, pipeline=self.name, line=other.span.line
                            )
                    n += 1
                    task_id = f"{base}_{n}"
                member.id = task_id
                taken[task_id.casefold()] = member
                self.members.append(member)
                self.by_obj[id(obj)] = member

    def ports_of(self, member: Member, count: int) -> tuple[str, ...] | None:
        if isinstance(member.obj, SearchDef):
            return tuple(component_inputs(member.obj))
        return input_ports(member.obj, count)

    def bind(self, member: Member) -> None:
        obj, use = member.obj, member.use
        inputs = member.inputs
        if isinstance(obj, TaskDef):
            for port, ref in obj.bound_inputs.items():
                inputs[port] = (ref, obj.bound_spans.get(port, member.span))
            if obj.mode == "predict" and obj.model_ref is not None:
                inputs["model"] = (obj.model_ref, obj.model_ref.span)
        if isinstance(obj, SearchDef) and any(s.item is None and s.mode != "predict" for s in obj.component.steps):
            return  # a step's item did not resolve (reported): its ports are unknown
        count = max(len(obj.bound_inputs) if isinstance(obj, TaskDef) else 0, 1)
        ports = self.ports_of(member, count)
        if ports is None:
            return  # the item did not resolve; reported already
        if use is not None:
            if not ports and (use.positional or use.named):
                self.reporter.report(SetInputOnDataset, use.span, task=member.id)
                return
            free = [p for p in ports if p not in inputs]
            if len(use.positional) > len(free):
                self.reporter.report(
                    WrongInputCount, use.span, task=member.id, expected=len(free),
                    ports=", ".join(free) or "none free", got=len(use.positional),
                )  # fmt: skip
            for i, (port, ref) in enumerate(zip(free, use.positional)):
                inputs[port] = (ref, use.arg_spans.get(f"#{i}", use.span))
            for port, ref in use.named.items():
                if port not in ports:
                    self.reporter.report(
                        UnknownInputName, use.arg_spans.get(port, use.span), task=member.id, port=port,
                        ports=", ".join(ports) or "none",
                    )  # fmt: skip
                    continue
                inputs[port] = (ref, use.arg_spans.get(port, use.span))
        incomplete = (use is not None and use.incomplete) or getattr(obj, "incomplete", False)
        optional = OPTIONAL_INPUTS.get(obj.item.ref.name, ()) if isinstance(obj, TaskDef) and obj.item else ()
        for port in ports:
            if port not in inputs and not incomplete and port not in optional:
                hint = f"{member.id}.set_input({port}=other.output)" if len(ports) > 1 else (
                    f"list it as {member.id}.set_input(other.output)"
                )  # fmt: skip
                self.reporter.report(UnconnectedInput, member.span, task=member.id, port=port, hint=hint)

    def source(self, member: Member, port: str, ref: OutputRef, span: Span) -> tuple[str, str | None] | None:
        """(source task id, source pipeline or None) of a binding, or None after reporting."""
        src = self.by_obj.get(id(ref.task))
        if src is not None:
            if src.stage_index > member.stage_index:
                self.reporter.report(
                    StageOrder, span, task=member.id, stage=member.stage, source=src.id, source_stage=src.stage
                )
            return src.id, None
        if ref.port in ("model", "best_model"):
            for pipeline, objs in self.members_of.items():
                if id(ref.task) in objs:
                    return ref.task.id or "?", pipeline
        self.reporter.report(
            TaskNotInPipeline, span, what=f"input {port!r} of task {member.id!r}",
            source=ref.task.id or "?", pipeline=self.name,
        )  # fmt: skip
        return None

    # ------------------------------------------------------------------ order

    def toposort(self) -> list[Member] | None:
        deps: dict[str, set[str]] = {m.id: set() for m in self.members}
        by_id = {m.id: m for m in self.members}
        for m in self.members:
            for ref, _ in m.inputs.values():
                src = self.by_obj.get(id(ref.task))
                if src is not None and src.id != m.id:
                    deps[m.id].add(src.id)
                elif src is not None:
                    deps[m.id].add(m.id)
        order: list[Member] = []
        done: set[str] = set()
        remaining = [m.id for m in self.members]
        while remaining:
            ready = [t for t in remaining if deps[t] <= done]
            if not ready:
                cycle = _find_cycle(deps, remaining)
                self.reporter.report(
                    Cycle, by_id[cycle[0]].span, pipeline=self.name, cycle=" -> ".join(cycle + [cycle[0]])
                )
                return None
            for t in ready:
                order.append(by_id[t])
                done.add(t)
            remaining = [t for t in remaining if t not in done]
        return order

    # ------------------------------------------------------------------ types

    def typed_task(self, member: Member) -> tuple[ir.Task, list[ir.Edge]]:
        produced: dict[str, tuple[DataType, Span]] = {}
        sources: dict[str, tuple[str, str | None]] = {}
        for port, (ref, span) in member.inputs.items():
            found = self.source(member, port, ref, span)
            if found is None:
                continue
            sources[port] = found
            outs = self.typer.outputs.get(id(ref.task), {})
            produced[port] = (produced_type(self.reporter, outs, ref, span, found[0]), span)
        if isinstance(member.obj, SearchDef):
            task, outs = build_search(self.typer, self.reporter, member, produced, sources, self.grid_budget)
            self.typer.outputs[id(member.obj)] = outs
            return task, self.edges(member, produced, sources)
        obj: TaskDef = member.obj
        wanted, outs = self.typer.types(obj, member.id, produced)
        self.typer.outputs[id(obj)] = outs
        self.typer.inputs[id(obj)] = member.inputs
        bindings = []
        for port, (datatype, span) in sorted(produced.items()):
            want = wanted.get(port, VOID)
            check_binding(self.reporter, member.id, port, datatype, want, span)
            ref = member.inputs[port][0]
            bindings.append(
                ir.Binding(
                    port=port, source_task=sources[port][0], source_port=ref.port, columns=ref.columns,
                    source_pipeline=sources[port][1], type=concrete(want, datatype), loc=ir.Loc.of(span),
                )  # fmt: skip
            )
        item = obj.item.ref if obj.item is not None else self.typer.trained_item(obj)
        task = ir.Task(
            id=member.id, kind="item", mode=obj.mode, stage=member.stage, item=item,
            params=self.typer.params(obj) if obj.item is not None else {},
            resources=self.typer.resources(obj) if obj.item is not None else ir.Resources(),
            inputs=tuple(bindings), outputs=tuple(ir.Port(name=n, type=t) for n, t in outs.items()),
            loc=ir.Loc.of(member.span),
        )  # fmt: skip
        return task, self.edges(member, produced, sources)

    def edges(
        self, member: Member, produced: dict[str, tuple[DataType, Span]], sources: dict[str, tuple[str, str | None]]
    ) -> list[ir.Edge]:
        return [
            ir.Edge(source=sources[port][0], target=member.id, port=port, type=str(produced[port][0]))
            for port in sorted(produced)
            if sources[port][1] is None
        ]


def _find_cycle(deps: dict[str, set[str]], remaining: list[str]) -> list[str]:
    left = set(remaining)
    start = remaining[0]
    path, seen = [start], {start}
    node = start
    while True:
        nxt = sorted(d for d in deps[node] if d in left)[0]
        if nxt in seen:
            return path[path.index(nxt):]
        path.append(nxt)
        seen.add(nxt)
        node = nxt
