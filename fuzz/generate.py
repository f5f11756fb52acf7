"""Grammar- and meaning-aware M-File and MantikHeader generators, shared by the CI fuzz tests
(hypothesis draws the choices, so failures shrink) and the long campaign (atheris or a seeded
``random.Random`` draws them).

A generator is a function of a ``Chooser``: every decision goes through ``pick``/``number``,
so the same code serves every driver. Programs use the builtins and the test items in
``tests/cases/items`` the way a user would (items, configure, references, joins, splits,
searches, pipelines), with hostile strings and numbers mixed in, then optionally damage the
text (delete, duplicate or swap a slice) so both the happy path and the error paths run.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any, Protocol, Sequence


class Chooser(Protocol):
    def pick(self, options: Sequence[Any]) -> Any: ...

    def number(self, lo: int, hi: int) -> int: ...


class RandomChooser:
    """Choices from a seeded ``random.Random`` (the long campaign without atheris)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    def number(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class ProviderChooser:
    """Choices from atheris' FuzzedDataProvider (coverage-guided campaign)."""

    def __init__(self, provider: Any) -> None:
        self.p = provider

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.p.ConsumeIntInRange(0, len(options) - 1)]

    def number(self, lo: int, hi: int) -> int:
        return self.p.ConsumeIntInRange(lo, hi)


class HypothesisChooser:
    """Choices drawn from hypothesis' ``st.data()`` so failing programs shrink."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def pick(self, options: Sequence[Any]) -> Any:
        return self.data.draw(self.st.sampled_from(list(options)))

    def number(self, lo: int, hi: int) -> int:
        return self.data.draw(self.st.integers(lo, hi))


# --------------------------------------------------------------------------- values

HOSTILE_STRINGS = [
    "plain", "", "a'b", 'a"b', "$(touch /tmp/mfile-fuzz-marker)", "`id`", "; rm -rf ~", "a\nb",
    "\x00", "\u202e\u0301", "--output=/etc/passwd", "-rf", "../../etc/passwd", "${HOME}", "%x-%j",
    "\\", "\r", "\t", "é" * 3, "🙂", "{name}", "{0}", "%s%s%s", "a" * 300, "\x1b[31m",
    "::error::x", "test/digits:1", "test/../digits", "/abs/path", "01:00:00", "0-1%2",
]
NUMBERS = ["0", "1", "-1", "3", "28", "1e-3", "2 ** 10", "10 ** 400", "1 / 0", "1e308 * 10",
           "0x10", "1_000", "-0.0", "4.5", "2 ** 64 * 2 ** 64", "(1 + 2) * 3", "9" * 50]
ITEMS = ["test/digits:1", "test/net28:1", "test/net32:1", "test/table:1", "test/regressor:1",
         "test/flatten:1", "test/generic:1", "test/wide:1", "test/digits", "test/nope:1",
         "mfile/normalize:1", "mfile/netcdf:1", "bad name", "../x/y"]
PARAMS = ["batch_size", "learning_rate", "epochs", "height", "width", "file", "path", "p", "nope"]
RESOURCES = ["tasks", "nodes", "cpus_per_task", "gpus", "memory", "time", "partition", "parallel",
             "container", "sbatch_extra", "requeue", "bogus"]
# sbatch_extra entries: allowed options and their abbreviations, getopt prefixes of options
# mfile sets or refuses (issue 18), ambiguous prefixes, short options, malformed ones.
SBATCH_OPTIONS = ["--mail-type=END", "--mail-t=FAIL", "--comment=x", "--comm=x", "--qos=normal", "--nice=5",
                  "--accou=other", "--part=booster", "--outp=/tmp/x", "--erro=/tmp/x", "--arr=1-9", "--dep=afterok:1",
                  "--chd=/tmp", "--gpus-per-n=4", "--export=ALL", "--export-file=/tmp/e", "--container=/tmp/b",
                  "--e=1", "--mail=END", "--ex=n1", "-o", "-A", "--wra=id", "--uid=0", "--x11", "--",
                  "--comment", "--=x", "--Mail-type=END"]
RESOURCE_VALUES = ['"00:10:00"', '"1G"', "2", "0", "-1", '"batch"', '"data"', '"none"', '["--exclusive"]',
                   '["--output=x"]', '["--a\\nb"]', "True", '"99-00:00:00"', '"$(id)"', "100000",
                   *(f'["{o}"]' for o in SBATCH_OPTIONS), '"/p/project/other/evil.sif"', '"../../x.sif"']
METRICS = ["accuracy", "rmse", "loss", "nope"]


def string_literal(text: str, ch: Chooser) -> str:
    """An M-File string literal for ``text`` (escaped so it is one well-formed token)."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
               .replace("\x00", "\\x00").replace("\t", "\\t").replace("\x1b", "\\x1b"))
    return ch.pick(['"{}"', "'{}'"]).format(escaped if "'" not in text else escaped.replace("'", "\\'"))


def value(ch: Chooser, names: list[str], depth: int = 0) -> str:
    kind = ch.pick(["str", "num", "num", "bool", "name", "list", "dict", "hp"] if depth < 2 else ["str", "num"])
    if kind == "str":
        return string_literal(ch.pick(HOSTILE_STRINGS), ch)
    if kind == "num":
        return ch.pick(NUMBERS)
    if kind == "bool":
        return ch.pick(["True", "False", "None"])
    if kind == "name":
        return ch.pick(names) if names else "undefined_name"
    if kind == "hp":
        return "HyperParameter()"
    if kind == "list":
        return "[" + ", ".join(value(ch, names, depth + 1) for _ in range(ch.number(0, 3))) + "]"
    entries = [f"{string_literal(ch.pick(PARAMS), ch)}: {value(ch, names, depth + 1)}" for _ in range(ch.number(0, 3))]
    return "{" + ", ".join(entries) + "}"


# --------------------------------------------------------------------------- programs


_OK_CASES = sorted((Path(__file__).resolve().parent.parent / "tests" / "cases" / "ok").glob("*.mfile"))
_LITERAL = re.compile(r'"[^"\n]*"|\b\d+(?:\.\d+)?(?:e-?\d+)?\b')


def program(ch: Chooser) -> str:
    """A whole M-File: free-form (most inputs), an echo pipeline with hostile params, or a
    passing case file with some of its literals replaced (so compile is reached often)."""
    mode = ch.pick(["free", "free", "echo", "template"])
    if mode == "echo":
        return echo_program(ch)
    if mode == "template" and _OK_CASES:
        return template_program(ch)
    return free_program(ch)


def echo_program(ch: Chooser) -> str:
    params = ", ".join(f'"p{i}": {string_literal(ch.pick(HOSTILE_STRINGS), ch)}' for i in range(ch.number(0, 4)))
    res = ch.pick(["", ', resources={"time": "00:05:00"}', ', resources={"tasks": 2, "parallel": "data"}',
                   f', resources={{"sbatch_extra": [{string_literal(ch.pick(HOSTILE_STRINGS), ch)}]}}',
                   f', resources={{"sbatch_extra": [{string_literal(ch.pick(SBATCH_OPTIONS), ch)}]}}'])
    stage = string_literal(ch.pick(HOSTILE_STRINGS + ["s", "load"]), ch)
    text = (f'e = MantikItem(name="sec/echo:1").configure(params={{{params}}}{res})\n'
            f"{ch.pick(['p', 'batch', 'pipe_1'])} = MantikPipeline(stages={{{stage}: [e]}})\n")
    return damage(text, ch)


def template_program(ch: Chooser) -> str:
    text = ch.pick(_OK_CASES).read_text(encoding="utf-8")

    def swap(match: "re.Match[str]") -> str:
        if ch.number(0, 9):
            return match.group()
        if match.group().startswith('"'):
            return string_literal(ch.pick(HOSTILE_STRINGS), ch)
        return ch.pick(NUMBERS)

    return damage(_LITERAL.sub(swap, text), ch)


def free_program(ch: Chooser) -> str:
    lines = [ch.pick(['"""A fuzzed workflow."""', "# fuzz", ""])]
    tasks: list[str] = []
    refs: list[str] = []
    names: list[str] = []
    hps: list[str] = []
    for i in range(ch.number(1, 8)):
        kind = ch.pick(["item", "item", "configure", "refs", "join", "split", "evaluate", "hp",
                        "search", "save", "predict", "set_input", "timelag", "junk"])
        name = f"t{i}"
        if kind == "item":
            lines.append(f"{name} = MantikItem(name={string_literal(ch.pick(ITEMS), ch)})")
        elif kind == "configure":
            params = ", ".join(f'"{ch.pick(PARAMS)}": {value(ch, hps + names)}' for _ in range(ch.number(0, 3)))
            res = ", ".join(f'"{ch.pick(RESOURCES)}": {ch.pick(RESOURCE_VALUES)}' for _ in range(ch.number(0, 2)))
            lines.append(f"{name} = MantikItem(name={string_literal(ch.pick(ITEMS), ch)}).configure("
                         f"params={{{params}}}, resources={{{res}}})")
        elif kind == "refs" and tasks:
            a, b = f"r{i}a", f"r{i}b"
            lines.append(f"{a}, {b} = {ch.pick(tasks)}.get_output_reference()")
            refs += [a, b]
            names += [a, b]
            continue
        elif kind == "join" and refs:
            inputs = ", ".join(ch.pick(refs) for _ in range(ch.number(1, 3)))
            lines.append(f"{name} = join(inputs=[{inputs}], reference={string_literal(ch.pick([f'j{i}', 'bad name', '$(x)']), ch)})")
        elif kind == "split" and tasks:
            lines.append(f"{name} = train_test_split(data={ch.pick(tasks)}.output, test_size={ch.pick(['0.25', '2', '-1', '0.5'])})")
        elif kind == "evaluate":
            lines.append(f"{name} = evaluate(metric={string_literal(ch.pick(METRICS), ch)})")
        elif kind == "hp":
            hps.append(name)
            names.append(name)
            lines.append(f"{name} = HyperParameter()")
            continue
        elif kind == "search" and tasks:
            comp = f"c{i}"
            lines.append(f"{comp} = pipeline_component({', '.join(ch.pick(tasks) for _ in range(ch.number(1, 2)))})")
            grid = ", ".join(f'"{ch.pick(hps or ["h"])}": [{", ".join(ch.pick(NUMBERS) for _ in range(ch.number(0, 4)))}]'
                             for _ in range(ch.number(0, 2)))
            lines.append(f"{name} = HyperParameterSearch({comp}, hyperparameters={{{grid}}}, "
                         f"metric={comp}.{ch.pick(tasks)}.{ch.pick(METRICS)})")
        elif kind == "save":
            lines.append(f"{name} = save_model()")
        elif kind == "predict" and tasks:
            lines.append(f"{name} = makeMantikItem({ch.pick(tasks)}.model)")
        elif kind == "set_input" and tasks and (refs or tasks):
            src = ch.pick(refs) if refs and ch.pick([True, False]) else f"{ch.pick(tasks)}.output"
            lines.append(f"{ch.pick(tasks)}.set_input({src})")
            continue
        elif kind == "timelag" and tasks:
            lines.append(f"{name} = timelag({ch.pick(tasks)}.output, lag={ch.pick(NUMBERS)})")
        elif kind == "junk":
            lines.append(ch.pick(["import os", "def f():\n    pass", "x[0] = 1", "a += 1", "lambda: 1",
                                  "for a in b:\n    pass", "eval('1')", "__import__('os').system('id')",
                                  "print(open('/etc/passwd').read())", "t0.__class__", "(((1)))",
                                  "x = " + "+".join(["1"] * ch.number(1, 300))]))
            continue
        else:
            continue
        tasks.append(name)
        names.append(name)
    for j in range(ch.number(0, 2)):
        stages = []
        for k in range(ch.number(0, 3)):
            members = ", ".join(ch.pick(tasks) for _ in range(ch.number(0, 3))) if tasks else ""
            stage = ch.pick([f"s{k}", "load", "train", "a b", "$(id)", "s\\n", ""])
            stages.append(f'"{stage}": [{members}]')
        pname = ch.pick([f"p{j}", "batch", "inference"])
        lines.append(f"{pname} = MantikPipeline(stages={{{', '.join(stages)}}})")
    text = "\n".join(lines) + "\n"
    return damage(text, ch)


def damage(text: str, ch: Chooser) -> str:
    """Leave the text as it is most of the time; else cut, repeat or swap a slice of it."""
    how = ch.pick(["none", "none", "none", "delete", "duplicate", "swap", "insert"])
    if how == "none" or not text:
        return text
    a = ch.number(0, len(text) - 1)
    b = ch.number(a, min(len(text), a + 40))
    if how == "delete":
        return text[:a] + text[b:]
    if how == "duplicate":
        return text[:b] + text[a:b] + text[b:]
    if how == "insert":
        return text[:a] + ch.pick(["(", ")", '"', "'''", "\\", "\t", "    ", ":", ",", "=", "\x00", "\ufeff"]) + text[a:]
    c = ch.number(0, len(text) - 1)
    a, c = sorted((a, c))
    return text[:a] + text[c:c + (b - a)] + text[a + (b - a):c] + text[a:b] + text[c + (b - a):]


# --------------------------------------------------------------------------- headers

COLUMN_TYPES = ["int8", "int32", "int64", "uint8", "float32", "float64", "bool", "string", "void",
                "complex", "tensor", "{type: tensor, shape: [2, 3], componentType: float32}",
                '{type: tensor, shape: ["${n}", null], componentType: float64}',
                "{type: tensor, shape: [-1], componentType: int8}", "[1, 2]", "!!python/object/apply:os.system ['id']"]
EXECUTION_VALUES = ["4", "64G", "data", '"00:10:00"', "none", "-1", "[--x]", "$(id)",
                    *(f'["{o}"]' for o in SBATCH_OPTIONS[:20])]
YAML_SCALARS = ["1", "-5", "0x10", "1e400", "true", "null", "~", "'quoted'", '"dq\\n"', "02:00:00",
                "1" + ":0" * 200, "0b" + "1" * 300, "9" * 5000,
                "2026-01-01", "!!str 3", "!!binary aGk=", "!!set {a}", "*anchor", "&anchor x",
                "!custom x", "<<: *a", "${n}", "'${n}'", '"${missing}"', "|\n  block", ">-\n  folded"]


def header(ch: Chooser) -> str:
    """A MantikHeader: the seed's fields with values that are right, wrong or hostile."""
    kind = ch.pick(["dataset", "algorithm", "trainable", "deployment", "combiner", "", "7"])
    out = [f"name: {ch.pick(['h', 'x y', '../up', 'é'])}"]
    if kind:
        out.append(f"kind: {kind}")
    if ch.pick([True, False]):
        out.append("metaVariables:")
        for _ in range(ch.number(0, 3)):
            out.append(f"  - name: {ch.pick(['n', 'm', 'n', '', '[1]'])}")
            out.append(f"    type: {ch.pick(COLUMN_TYPES)}")
            out.append(f"    value: {ch.pick(YAML_SCALARS)}")
    def columns(indent: str) -> None:
        out.append(f"{indent}columns:")
        for _ in range(ch.number(0, 3)):
            out.append(f"{indent}  {ch.pick(['x', 'y', 'image', '${n}', '1', 'a b'])}: {ch.pick(COLUMN_TYPES)}")
    section = ch.pick(["type", "trainingType", "statType", "none"])
    if section != "none":
        out.append(f"{section}:")
        if ch.pick([True, False]):
            columns("  ")
        else:
            out.append("  input:")
            columns("    ")
            out.append("  output:")
            columns("    ")
    if ch.pick([True, False]):
        out.append("execution:")
        for _ in range(ch.number(0, 3)):
            key = ch.pick(RESOURCES)
            out.append(f"  {key}: {ch.pick(EXECUTION_VALUES)}")
    if ch.pick([True, False, False]):
        out.append(ch.pick(["a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]", "---\nsecond: doc",
                            "extra: {nested: [1, {deep: true}]}", "\t tab: bad", "key: [unclosed",
                            "k: !!python/name:os.system", "? [complex]\n: key"]))
    return damage("\n".join(out) + "\n", ch)
