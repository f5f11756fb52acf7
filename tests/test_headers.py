"""MantikHeaders: case files under tests/headers/{ok,err}, real Mantik headers, resolution.

A case file's first line is ``# expect: CODE@LINE:COL ...``: exactly the diagnostics that
loading it reports (sorted by position). Files under err/ must fail to load; ok/ must load.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from mfile.compiler.headers.execution import resources_from_mapping
from mfile.compiler.headers.yamlnodes import MAX_BYTES
from mfile.compiler.headers.loader import Header, check_value, load_header
from mfile.plan.ir import Loc, Resources
from mfile.plan.types import Array, Fundamental, Nullable, Struct, Tabular, Tensor, scalar
from mfile.diagnostics import Diagnostic, Reporter, Severity, Span

HERE = Path(__file__).parent / "headers"
REAL = HERE / "real" / "mantik"
AT = Span("pipe.mfile", 7, 5, 7, 40)


def codes(reporter: Reporter) -> list[tuple[str, int, int]]:
    return [(r.code, r.span.line, r.span.column) for r in reporter.sorted()]


def expected(path: Path) -> list[tuple[str, int, int]]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect:"), f"{path} lacks an '# expect:' line"
    out = []
    for item in first[len("# expect:") :].split():
        code, _, pos = item.partition("@")
        line, col = pos.split(":")
        out.append((code, int(line), int(col)))
    return out


def load(path: Path) -> tuple[Header | None, Reporter]:
    reporter = Reporter()
    return load_header(path, reporter), reporter


@pytest.mark.parametrize("path", sorted((HERE / "err").glob("*.yaml")), ids=lambda p: p.stem)
def test_failing_case(path: Path) -> None:
    header, reporter = load(path)
    assert codes(reporter) == expected(path)
    if reporter.has_errors:
        assert header is None
    assert all(r.code.startswith("E3") for r in reporter.reports)


@pytest.mark.parametrize("path", sorted((HERE / "ok").glob("*.yaml")), ids=lambda p: p.stem)
def test_passing_case(path: Path) -> None:
    header, reporter = load(path)
    assert codes(reporter) == expected(path)
    assert header is not None


def test_every_header_code_has_a_failing_case() -> None:
    tested = {e[0] for p in (HERE / "err").glob("*.yaml") for e in expected(p)}
    # Codes whose cases need files or M-File spans are tested in code below / test_items.py.
    elsewhere = {"E300", "E317", "E318", "E319", "E320"} | {f"E3{n}" for n in range(30, 40)}  # E338: test_security_shared.py, E339: test_items.py
    header_codes = {c for c in Diagnostic.registry if c.startswith("E3")}
    assert header_codes - tested - elsewhere == set()


# ------------------------------------------------------------------ real Mantik headers


def test_seed_mnist_linear_loads_with_its_types() -> None:
    header, reporter = load(REAL / "mnist_linear" / "v1" / "MantikHeader")
    assert header is not None and reporter.reports == []
    assert header.kind == "trainable"
    assert (header.bridge, header.trained_bridge) == ("mantik/tf.train", "mantik/tf.saved_model")
    resolved = header.resolve({}, reporter, AT)
    assert resolved is not None
    image = Tensor(shape=(28, 28), component="float32")
    assert resolved.training == Tabular.model_validate({"columns": [
        {"name": "image", "type": image.model_dump()}, {"name": "label", "type": {"kind": "fundamental", "name": "int32"}}]})  # fmt: skip
    assert isinstance(resolved.output, Tabular) and resolved.output.names == ("label", "logits")
    assert resolved.output.column("logits") == Tensor(shape=(10,), component="float32")
    assert isinstance(resolved.stats, Tabular) and resolved.stats.names == ("epoch", "loss")
    assert resolved.params == {"batch_size": 128, "n_epochs": 5, "learning_rate": 0.01, "width": 28, "height": 28}


def test_binary_mnist_dataset_images_become_tensors_and_files_pass_through() -> None:
    path = REAL / "mnist_binary" / "v1" / "MantikHeader"
    header, reporter = load(path)
    assert header is not None and reporter.reports == []
    resolved = header.resolve({}, reporter, AT)
    assert resolved is not None and isinstance(resolved.dataset_type, Tabular)
    assert resolved.dataset_type.column("x") == Tensor(shape=(28, 28), component="uint8")
    assert header.raw["files"][1]["content"] == [{"element": "x"}, {"stride": 784}]
    assert header.raw["directory"] == "data"
    assert header.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_sklearn_kmeans_stats_have_array_columns_and_fixed_variables() -> None:
    header, reporter = load(REAL / "kmeans" / "v1" / "MantikHeader")
    assert header is not None
    resolved = header.resolve({"n_clusters": (8, AT)}, reporter, AT)
    assert resolved is not None and reporter.reports == []
    assert isinstance(resolved.stats, Tabular)
    assert resolved.stats.column("centers") == Array(underlying=Tensor(shape=(2,), component="float64"))
    assert resolved.params["n_clusters"] == 8
    assert header.meta_variable("dimensions").fix  # type: ignore[union-attr]
    assert header.trained_bridge == header.bridge  # falls back to bridge


@pytest.mark.parametrize("item", ["csv_customized", "csv_cities"])
def test_csv_datasets_keep_their_options(item: str) -> None:
    header, reporter = load(REAL / item / "v1" / "MantikHeader")
    assert header is not None and reporter.reports == []
    assert isinstance(header.raw["options"]["skipHeader"], bool)
    resolved = header.resolve({}, reporter, AT)
    assert resolved is not None and isinstance(resolved.dataset_type, Tabular)
    assert resolved.dataset_type.column("latd" if item == "csv_cities" else "age") == scalar("int32")


# ------------------------------------------------------------------ files and limits


def test_unreadable_headers(tmp_path: Path) -> None:
    missing, r1 = load(tmp_path / "MantikHeader")
    big = tmp_path / "big"
    big.write_bytes(b"a: b\n" + b"#" * MAX_BYTES)
    too_big, r2 = load(big)
    latin = tmp_path / "latin"
    latin.write_bytes(b"name: caf\xe9\n")
    not_utf8, r3 = load(latin)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    not_regular, r4 = load(fifo)  # must not block
    assert (missing, too_big, not_utf8, not_regular) == (None, None, None, None)
    assert [codes(r) for r in (r1, r2, r3, r4)] == [[("E300", 1, 1)]] * 4


def test_alias_bomb_stops_quickly(tmp_path: Path) -> None:
    lines = ["kind: dataset", "type: int32", 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 30):  # 8**30 nodes if expanded
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 8) + "]")
    path = tmp_path / "bomb"
    path.write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    header, reporter = load(path)
    assert time.perf_counter() - start < 1.0
    assert header is None and [c for c, _, _ in codes(reporter)] == ["E303"]


# libyaml refuses more than 1000 flow levels itself (E301); our own limit (E303) comes first
# for anything it would accept, and protects the pure-Python parser too.
@pytest.mark.parametrize("depth, allowed", [(90, [[]]), (150, [["E303"]]), (200_000, [["E301"], ["E303"]])])
def test_nesting_depth_is_limited_without_crashing(tmp_path: Path, depth: int, allowed: list[list[str]]) -> None:
    path = tmp_path / "deep"
    path.write_text("kind: dataset\ntype: int32\nx: " + "[" * depth + "]" * depth + "\n")
    header, reporter = load(path)
    assert [c for c, _, _ in codes(reporter)] in allowed
    assert (header is None) == bool(allowed[0])


# ------------------------------------------------------------------ resolve() with params


def mnist() -> Header:
    header, _ = load(REAL / "mnist_linear" / "v1" / "MantikHeader")
    assert header is not None
    return header


def test_params_override_header_values_and_types_follow() -> None:
    reporter = Reporter()
    resolved = mnist().resolve({"height": (32, AT), "learning_rate": (1, AT)}, reporter, AT)
    assert resolved is not None and reporter.reports == []
    assert isinstance(resolved.input, Tabular)
    assert resolved.input.column("image") == Tensor(shape=(32, 28), component="float32")
    assert resolved.params["learning_rate"] == 1.0 and isinstance(resolved.params["learning_rate"], float)


def test_unknown_param_gets_did_you_mean_at_the_mfile_position() -> None:
    reporter = Reporter()
    span = Span("pipe.mfile", 12, 30, 12, 42)
    assert mnist().resolve({"batchsize": (64, span)}, reporter, AT) is None
    assert codes(reporter) == [("E317", 12, 30)]
    assert reporter.reports[0].hint == "did you mean 'batch_size'?"


def test_fixed_variable_cannot_be_overridden() -> None:
    header, reporter = load(REAL / "kmeans" / "v1" / "MantikHeader")
    assert header is not None
    assert header.resolve({"dimensions": (3, AT)}, reporter, AT) is None
    assert codes(reporter) == [("E318", 7, 5)]


@pytest.mark.parametrize("value", ["64", 64.0, True, 2**31, None, [64]])
def test_param_of_the_wrong_type_is_refused(value: object) -> None:
    reporter = Reporter()
    assert mnist().resolve({"batch_size": (value, AT)}, reporter, AT) is None
    assert codes(reporter) == [("E319", 7, 5)]


def test_param_that_breaks_a_type_is_reported_at_the_param() -> None:
    header, reporter = load(HERE / "ok" / "substitution.yaml")
    assert header is not None
    span = Span("pipe.mfile", 3, 1, 3, 9)
    assert header.resolve({"dtype": ("float33", span)}, reporter, AT) is None
    assert codes(reporter) == [("E320", 3, 1)]
    assert "float33" in reporter.reports[0].message and "substitution.yaml:24" in (reporter.reports[0].hint or "")
    ok = Reporter()
    resolved = header.resolve({"dtype": ("float64", span), "grid": ((10, 20), span)}, ok, AT)
    assert resolved is not None and ok.reports == []
    assert isinstance(resolved.input, Tabular)
    assert resolved.input.column("temperature") == Tensor(shape=(10, 20), component="float64")


def test_substitution_in_keys_values_and_dollar_escapes() -> None:
    header, reporter = load(HERE / "ok" / "substitution.yaml")
    assert header is not None
    resolved = header.resolve({"label": ("t2m", AT)}, reporter, AT)
    assert resolved is not None and reporter.reports == []
    assert isinstance(resolved.input, Tabular) and resolved.input.names == ("t2m", "price$")
    assert resolved.header["command"] == "echo ${HOME}"
    assert resolved.header["note"] == "scaled by ${factor}"
    assert header.raw["command"] == "echo $${HOME}"  # raw stays as written
    assert header.raw["type"]["input"]["columns"]["${label}"]["shape"] == "${grid}"


def test_types_of_every_form() -> None:
    header, reporter = load(HERE / "ok" / "types.yaml")
    assert header is not None
    resolved = header.resolve({}, reporter, AT)
    assert resolved is not None and isinstance(resolved.dataset_type, Tabular)
    col = resolved.dataset_type.column
    assert col("maybe") == Nullable(underlying=scalar("float32"))
    assert col("point") == Struct.model_validate({"fields": [
        {"name": "lat", "type": {"kind": "fundamental", "name": "float64"}},
        {"name": "lon", "type": {"kind": "fundamental", "name": "float64"}}]})  # fmt: skip
    assert col("scalar_tensor") == Tensor(shape=(), component="uint16")
    assert col("any_size") == Tensor(shape=(None, 3), component="int8")
    assert col("grey") == Tensor(shape=(16, 32), component="uint8")
    assert col("rgb") == Tensor(shape=(16, 32, 3), component="uint8")
    assert col("typed_scalar") == Fundamental(name="uint32")
    assert resolved.dataset_type.names[:3] == ("flag", "name", "nothing")  # order kept


# ------------------------------------------------------------------ values and resources


@pytest.mark.parametrize(
    "value, datatype, ok",
    [
        (255, scalar("uint8"), True),
        (256, scalar("uint8"), False),
        (-1, scalar("uint32"), False),
        (1, scalar("float32"), True),
        (1e39, scalar("float32"), False),
        (True, scalar("int32"), False),
        (None, Nullable(underlying=scalar("string")), True),
        ([[1.0, 2.0], [3.0, 4.0]], Tensor(shape=(2, 2), component="float32"), True),
        ([[1.0, 2.0], [3.0]], Tensor(shape=(2, 2), component="float32"), False),
        ([[1.0], [3.0], [4.0]], Tensor(shape=(None, 1), component="float64"), True),
        ([1, "2"], Array(underlying=scalar("int64")), False),
    ],
)
def test_check_value(value: object, datatype: object, ok: bool) -> None:
    assert (check_value(value, datatype) is None) == ok  # type: ignore[arg-type]


def test_resources_from_mapping_for_configure() -> None:
    reporter = Reporter()
    spans = {k: Span("pipe.mfile", 9, c, 9, c + 5) for k, c in (("gpus", 20), ("time", 30), ("memroy", 40))}
    base = Resources(tasks=4, origin={"tasks": Loc(file="h", line=1, column=1, end_line=1, end_column=2)})
    assert resources_from_mapping({"gpus": 2, "time": 90, "memroy": "8G"}, spans, reporter, base) is None
    assert codes(reporter) == [("E321", 9, 40)]
    assert reporter.reports[0].hint == "did you mean 'memory'?"
    ok = Reporter()
    res = resources_from_mapping({"gpus": 2, "time": 90}, spans, ok, base)
    assert res is not None and ok.reports == []
    assert (res.tasks, res.gpus, res.time) == (4, 2, "01:30:00")
    assert res.origin["gpus"].column == 20 and res.origin["tasks"].file == "h"


def test_env_device_and_environment_resources() -> None:
    spans = {k: Span("pipe.mfile", 9, c, 9, c + 5) for k, c in (("env", 20), ("device", 30), ("environment", 40))}
    base = Resources(env={"NCCL_DEBUG": "WARN", "KEEP": "1"})
    ok = Reporter()
    res = resources_from_mapping({"env": {"NCCL_DEBUG": "INFO", "N": 4}, "device": "cpu", "environment": "modules"}, spans, ok, base)
    assert res is not None and ok.reports == []
    # configure()'s env adds to the header's (and wins where both name a variable).
    assert res.env == {"KEEP": "1", "N": "4", "NCCL_DEBUG": "INFO"}
    assert (res.device, res.environment) == ("cpu", "modules")
    for bad in ({"env": {"SLURM_NTASKS": "2"}}, {"env": {"1X": "a"}}, {"env": {"X": "a\nb"}}, {"env": {"X": [1]}},
                {"env": "NCCL_DEBUG=INFO"}, {"device": "gpu"}, {"environment": "docker"}):
        reporter = Reporter()
        assert resources_from_mapping(bad, spans, reporter) is None, bad
        [report] = reporter.reports
        key = next(iter(bad))
        assert (report.code, report.span.column) == ("E322", spans[key].column), bad


def test_execution_origin_points_at_header_lines() -> None:
    header, _ = load(HERE / "ok" / "execution.yaml")
    assert header is not None
    assert header.execution.time == "02:00:00" and header.execution.memory == "64G"
    assert header.execution.origin["gpus"].line == 13
    assert header.execution.origin["gpus"].file.endswith("execution.yaml")


def test_near_miss_is_only_a_warning() -> None:
    header, reporter = load(HERE / "err" / "e310_near_misses.yaml")
    assert {r.severity for r in reporter.reports if r.code == "E310"} == {Severity.WARNING}


def test_pure_python_yaml_parser_gets_the_same_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from mfile.compiler.headers import yamlnodes as header_yaml

    monkeypatch.setattr(header_yaml, "_Loader", yaml.SafeLoader)
    deep = tmp_path / "deep"
    deep.write_text("kind: dataset\ntype: int32\nx: " + "[" * 5000 + "]" * 5000 + "\n")
    assert [c for c, _, _ in codes(load(deep)[1])] == ["E303"]
    for case in ("e302_python_tag", "e303_billion_laughs", "e313_bad_shape"):
        path = HERE / "err" / f"{case}.yaml"
        assert codes(load(path)[1]) == expected(path)
    header, reporter = load(REAL / "mnist_linear" / "v1" / "MantikHeader")
    assert header is not None and reporter.reports == []


_FRAGMENTS = ["kind: ", "dataset", "trainable", "type:", "\n", "  ", "columns:", "x: ", "int32", "[", "]", "{", "}",
              "&a ", "*a", "!!python/name:os.system", "\"${h}\"", "metaVariables:", "- name: h", "type: tensor",
              "shape: ", "componentType: ", "null", "-1", ":", "'", "\"", "#", "---", "execution:", "time: 1"]  # fmt: skip


def test_load_header_never_raises_on_garbage(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    path = tmp_path / "MantikHeader"

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=5), max_size=40))
    def check(parts: list[str]) -> None:
        path.write_bytes("".join(parts).encode("utf-8", "surrogatepass"))  # surrogates: not UTF-8
        reporter = Reporter()
        header = load_header(path, reporter)
        assert (header is None) == reporter.has_errors
        for report in reporter.reports:
            assert report.code.startswith("E3") and report.span.line >= 1

    check()
