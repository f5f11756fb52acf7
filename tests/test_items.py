"""Item roots, names and versions (compiler/items.py) and `mfile items list/show`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mfile.cli import main
from mfile.compiler.headers.catalog import BUILTIN_ROOT, ItemCatalog, version_key
from mfile.diagnostics import Reporter, Severity, Span

REAL = Path(__file__).parent / "headers" / "real"
AT = Span("pipe.mfile", 4, 12, 4, 40)
HEADER = "kind: algorithm\ntype: {input: float32, output: float32}\n"


def codes(reporter: Reporter) -> list[tuple[str, int, int]]:
    return [(r.code, r.span.line, r.span.column) for r in reporter.sorted()]


def make_item(root: Path, ref: str, text: str = HEADER) -> Path:
    name, _, version = ref.partition(":")
    directory = root / name / version
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MantikHeader").write_text(text)
    # Every kind's functions (E339 checks that a payload has those its kind needs).
    (directory / "payload.py").write_text("def apply(inputs, params, ctx):\n    return inputs['input']\n\n\n"
                                          "load = train = save = predict = deploy = apply\n")
    return directory


def catalog(*roots: Path, env: dict[str, str] | None = None, builtin: bool = False) -> ItemCatalog:
    return ItemCatalog(list(roots), environ=env or {}, builtin=builtin)


def test_versions_compare_naturally() -> None:
    assert sorted(["v10", "v2", "v1"], key=version_key) == ["v1", "v2", "v10"]
    assert sorted(["1.10", "1.2", "1.9.1"], key=version_key) == ["1.2", "1.9.1", "1.10"]


def test_explicit_and_highest_version(tmp_path: Path) -> None:
    for v in ("v1", "v2", "v10"):
        make_item(tmp_path, f"me/model:{v}")
    cat = catalog(tmp_path)
    reporter = Reporter()
    latest = cat.resolve("me/model", reporter, AT)
    pinned = cat.resolve("me/model:v2", reporter, AT)
    also_latest = cat.resolve("me/model:latest", reporter, AT)
    assert reporter.reports == []
    assert latest and latest.ref.version == "v10" and latest.latest and latest.ref.ref == "me/model:v10"
    assert pinned and pinned.ref.version == "v2" and not pinned.latest
    assert also_latest and also_latest.ref.version == "v10"
    assert pinned.ref.directory == str((tmp_path / "me/model/v2").absolute())
    assert pinned.ref.kind == "algorithm" and pinned.ref.header == pinned.header.raw
    assert pinned.ref.header_sha256 == pinned.header.sha256


def test_resolution_is_cached_per_name_and_headers_load_once(tmp_path: Path) -> None:
    make_item(tmp_path, "me/model:1", HEADER + "trainedbridge: x\n")  # a near miss: one warning
    cat = catalog(tmp_path)
    reporter = Reporter()
    first = cat.resolve("me/model:1", reporter, AT)
    assert first is cat.resolve("me/model:1", reporter, AT)
    assert cat.resolve("me/model", reporter, AT) is not None
    assert [c for c, _, _ in codes(reporter)] == ["E310"]


def test_unknown_version_lists_the_versions(tmp_path: Path) -> None:
    make_item(tmp_path, "me/model:1.2")
    make_item(tmp_path, "me/model:1.10")
    reporter = Reporter()
    assert catalog(tmp_path).resolve("me/model:1.3", reporter, AT) is None
    assert codes(reporter) == [("E335", 4, 12)]
    assert reporter.reports[0].hint == "versions found: 1.2, 1.10"


def test_unknown_item_gets_did_you_mean() -> None:
    reporter = Reporter()
    assert catalog(REAL).resolve("mantik/mnist_liner:v1", reporter, AT) is None
    assert codes(reporter) == [("E334", 4, 12)]
    assert reporter.reports[0].hint == "did you mean 'mantik/mnist_linear'?"


@pytest.mark.parametrize(
    "name",
    ["../etc/passwd", "mantik/../mantik/kmeans", "/abs/item", "mantik/k means", "mantik/kmeans:v1:v2",
     "a/b/c", "mantik/", "mantik/kmeans:", "mantik/km$eans", "C:\\items\\x"],
)  # fmt: skip
def test_bad_item_names_are_refused_before_any_path_is_built(name: str) -> None:
    reporter = Reporter()
    assert catalog(REAL).resolve(name, reporter, AT) is None
    assert codes(reporter) == [("E330", 4, 12)]


def test_missing_namespace_suggests_the_qualified_name() -> None:
    reporter = Reporter()
    assert catalog(REAL).resolve("kmeans", reporter, AT) is None
    assert codes(reporter) == [("E330", 4, 12)]
    assert reporter.reports[0].hint == "did you mean 'mantik/kmeans'?"


def test_seed_names_with_placeholders_get_a_clear_error() -> None:
    reporter = Reporter()
    assert catalog(REAL).resolve("<user>/mnist_linear:v1", reporter, AT) is None
    assert codes(reporter) == [("E331", 4, 12)]
    assert "<user>" in reporter.reports[0].message
    assert reporter.reports[0].hint == "items named 'mnist_linear' here: mantik/mnist_linear"
    ok = Reporter()
    assert catalog(REAL).resolve("mantik/mnist_linear:v1", ok, AT) is not None and ok.reports == []


def test_root_order_items_then_env_then_builtin(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    make_item(first, "ns/x:1", "kind: dataset\ntype: int32\n")
    make_item(second, "ns/x:1", "kind: dataset\ntype: float64\n")
    make_item(second, "ns/x:2", "kind: dataset\ntype: float64\n")
    make_item(second, "mfile/netcdf:1", "kind: dataset\ntype: string\n")
    env = {"MFILE_ITEMS_PATH": f"{second}{os.pathsep}"}
    cat = ItemCatalog([first], environ=env, builtin=True)
    reporter = Reporter()
    pinned = cat.resolve("ns/x:1", reporter, AT)
    newest = cat.resolve("ns/x", reporter, AT)  # highest version in the first root having ns/x
    v2 = cat.resolve("ns/x:2", reporter, AT)
    netcdf = cat.resolve("mfile/netcdf:1", reporter, AT)
    assert reporter.reports == []
    assert pinned and pinned.root == first and newest and newest.ref.version == "1" and newest.root == first
    assert v2 and v2.root == second
    assert netcdf and netcdf.root == second  # $MFILE_ITEMS_PATH shadows the built-in items
    assert catalog(first, builtin=True).resolve("mfile/netcdf", Reporter(), AT).root == BUILTIN_ROOT  # type: ignore[union-attr]


def test_missing_roots_are_reported_once(tmp_path: Path) -> None:
    make_item(tmp_path / "ok", "ns/x:1")
    env = {"MFILE_ITEMS_PATH": str(tmp_path / "gone")}
    cat = ItemCatalog([tmp_path / "nope", tmp_path / "ok"], environ=env, builtin=False)
    reporter = Reporter()
    assert cat.resolve("ns/x", reporter, AT) is not None
    assert cat.resolve("ns/y", reporter, Span("pipe.mfile", 9, 1, 9, 5)) is None
    assert codes(reporter) == [("E332", 4, 12), ("E333", 4, 12), ("E334", 9, 1)]
    assert reporter.reports[1].severity is Severity.WARNING


def test_symlinked_item_out_of_its_root_is_refused(tmp_path: Path) -> None:
    outside = make_item(tmp_path / "elsewhere", "ns/evil:1")
    root = tmp_path / "root"
    (root / "ns" / "evil").mkdir(parents=True)
    (root / "ns" / "evil" / "1").symlink_to(outside)
    inside = make_item(root, "ns/real:1")
    (root / "ns" / "alias").mkdir()
    (root / "ns" / "alias" / "1").symlink_to(inside)
    (root / "ns" / "sneaky" / "1").mkdir(parents=True)
    (root / "ns" / "sneaky" / "1" / "MantikHeader").symlink_to(outside / "MantikHeader")
    reporter = Reporter()
    assert catalog(root).resolve("ns/evil:1", reporter, AT) is None
    assert catalog(root).resolve("ns/sneaky:1", reporter, AT) is None
    assert codes(reporter) == [("E336", 4, 12)] * 2
    ok = Reporter()
    assert catalog(root).resolve("ns/alias:1", ok, AT) is not None and ok.reports == []


def test_header_name_that_differs_from_its_directory_warns(tmp_path: Path) -> None:
    make_item(tmp_path, "ns/model:2", "name: other\nversion: 2\n" + HEADER)
    reporter = Reporter()
    item = catalog(tmp_path).resolve("ns/model", reporter, AT)
    assert item is not None and item.ref.name == "ns/model"
    assert codes(reporter) == [("E337", 1, 7)]
    assert reporter.reports[0].span.file.endswith("MantikHeader")


def test_broken_header_is_reported_in_the_header_file(tmp_path: Path) -> None:
    directory = make_item(tmp_path, "ns/broken:1", "kind: dataset\ntype:\n  columns: {x: int33}\n")
    reporter = Reporter()
    assert catalog(tmp_path).resolve("ns/broken", reporter, AT) is None
    assert codes(reporter) == [("E312", 3, 16)]
    assert reporter.reports[0].span.file == str(directory / "MantikHeader")


def test_all_lists_every_item_once(tmp_path: Path) -> None:
    make_item(tmp_path, "mantik/kmeans:v1", "kind: dataset\ntype: int32\n")  # shadows the real one
    make_item(tmp_path, "ns/bad:1", "kind: bogus\n")
    reporter = Reporter()
    items = catalog(tmp_path, REAL).all(reporter)
    refs = [i.ref.ref for i in items]
    assert refs == ["mantik/kmeans:v1", "mantik/csv_cities:v1", "mantik/csv_customized:v1",
                    "mantik/mnist_binary:v1", "mantik/mnist_linear:v1"]  # fmt: skip
    assert items[0].ref.kind == "dataset"
    assert [c for c, _, _ in codes(reporter)] == ["E308"]


def test_builtin_items_all_load() -> None:
    reporter = Reporter()
    items = ItemCatalog([], environ={}).all(reporter)
    assert items and all(i.ref.name.startswith("mfile/") for i in items)
    assert not reporter.has_errors, reporter.reports


# ------------------------------------------------------------------ CLI


def test_cli_items_list() -> None:
    result = CliRunner().invoke(main, ["items", "list", "--items", str(REAL)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["ITEM", "KIND", "BRIDGE", "PATH"]
    row = next(line for line in lines if line.startswith("mantik/mnist_binary:v1"))
    assert row.split()[1:3] == ["dataset", "builtin/binary"]


def test_cli_items_list_fails_on_a_broken_header(tmp_path: Path) -> None:
    make_item(tmp_path, "ns/bad:1", "kind: dataset\ntype: [\n")
    result = CliRunner().invoke(main, ["items", "list", "--items", str(tmp_path)])
    assert result.exit_code == 1
    assert "error[E301]" in result.output


def test_cli_items_show_prints_types_after_substitution() -> None:
    result = CliRunner().invoke(main, ["items", "show", "mantik/mnist_linear", "--items", str(REAL)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("mantik/mnist_linear:v1  (trainable)")
    assert "image  tensor[28, 28] of float32" in out and "${height}" not in out
    assert "batch_size" in out and "trained bridge: mantik/tf.saved_model" in out


def test_cli_items_show_unknown_item() -> None:
    result = CliRunner().invoke(main, ["items", "show", "<user>/mnist_linear:v1", "--items", str(REAL)])
    assert result.exit_code == 1
    assert "error[E331]" in result.output


# ------------------------------------------------------------------ payload functions (E339)


@pytest.mark.parametrize(
    "kind, payload, missing",
    [
        ("dataset", "def apply(inputs, params, ctx):\n    pass\n", ["load"]),
        ("trainable", "def train(inputs, params, ctx):\n    return None, None\n", ["save"]),
        ("algorithm", "def apply(inputs, params, ctx):\n    pass\n", []),
        ("algorithm", "from helpers import apply\n", []),
        ("algorithm", "try:\n    import fast as apply\nexcept ImportError:\n    def apply(i, p, c):\n        pass\n", []),
        ("algorithm", "from helpers import *\n", []),  # cannot be told without running it: no report
        ("deployment", "deploy = None\n", []),
    ],
)
def test_a_payload_without_the_function_its_kind_needs_is_an_error(
    tmp_path: Path, kind: str, payload: str, missing: list[str]
) -> None:
    header = (f"kind: {kind}\ntype: int32\n" if kind != "trainable" else
              "kind: trainable\ntype: {input: float32, output: float32}\ntrainingType: {columns: {x: float32}}\n"
              "statType: void\n")  # fmt: skip
    directory = make_item(tmp_path, "ns/thing:1", header)
    (directory / "payload.py").write_text(payload)
    reporter = Reporter()
    catalog(tmp_path).resolve("ns/thing", reporter, AT)
    found = [r for r in reporter.reports if r.code == "E339"]
    assert [r.message.split(" defines no ")[1].split("()")[0] for r in found] == missing, reporter.reports
    for report in found:
        assert report.span.file == str(directory / "payload.py") and report.span.line == 1


def test_a_missing_payload_function_is_reported_once_per_item(tmp_path: Path) -> None:
    directory = make_item(tmp_path, "ns/thing:1", "kind: dataset\ntype: int32\n")
    (directory / "payload.py").write_text("def apply(inputs, params, ctx):\n    pass\n")
    reporter = Reporter()
    cat = catalog(tmp_path)
    cat.resolve("ns/thing", reporter, AT)
    cat.resolve("ns/thing:1", reporter, AT)
    assert [r.code for r in reporter.reports].count("E339") == 1
