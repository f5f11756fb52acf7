"""``mfile schema header``: a valid JSON Schema that accepts every header mfile accepts in this
repository and rejects the structural mistakes that ``mfile check`` reports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from mfile.compiler.headers.execution import RESOURCE_KEYS
from mfile.compiler.headers.loader import KNOWN_FIELDS, load_header
from mfile.compiler.headers.schema import MEMORY, TIME, header_schema
from mfile.diagnostics import Reporter
from mfile.plan.ir import Resources
from mfile.plan.units import memory_parts, time_parts

ROOT = Path(__file__).resolve().parent.parent
HEADERS = sorted(p for p in ROOT.rglob("MantikHeader") if ".git" not in p.parts) + sorted(
    (ROOT / "tests" / "headers" / "ok").glob("*.yaml")
)
ERR = ROOT / "tests" / "headers" / "err"
# The err cases a schema can see (a field's shape); the others need mfile's own checks:
# duplicate keys and metaVariables, undefined or list-valued variables, warnings.
REJECTED = {
    "e306_not_mapping", "e307_field_types", "e308_unknown_kind", "e309_bridge", "e309_combiner",
    "e309_pipeline", "e310_near_misses", "e311_missing", "e311_trainable_without_training_type",
    "e312_bad_types", "e312_function_type", "e313_bad_shape", "e315_meta_variable_value",
    "e321_unknown_resource", "e322_bad_resources",
}  # fmt: skip


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    out = subprocess.run([sys.executable, "-m", "mfile.cli", "schema", "header"], capture_output=True, text=True, check=True).stdout
    schema = json.loads(out)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema == header_schema()
    return jsonschema.Draft7Validator(schema)


def test_the_repository_has_headers_of_every_origin() -> None:
    places = {p.relative_to(ROOT).parts[0] for p in HEADERS}
    assert places == {"src", "examples", "tests"} and len(HEADERS) > 40


@pytest.mark.parametrize("path", HEADERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_header_mfile_loads_is_valid(path: Path, validator: jsonschema.Draft7Validator) -> None:
    reporter = Reporter()
    loaded = load_header(path, reporter)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
    if loaded is None:  # runtime fixtures with only a name and a kind: mfile refuses them too
        assert problems and any(r.code == "E311" for r in reporter.reports)
    else:
        assert problems == []


def test_structural_mistakes_are_rejected(validator: jsonschema.Draft7Validator) -> None:
    rejected = set()
    for path in sorted(ERR.glob("*.yaml")):
        if path.stem.startswith(("e301", "e302", "e303", "e305")):  # not YAML that loads into JSON data
            continue
        if any(True for _ in validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))):
            rejected.add(path.stem)
    assert rejected == REJECTED


def test_the_schema_follows_the_loaders_tables() -> None:
    schema = header_schema()
    assert tuple(schema["properties"]) == KNOWN_FIELDS
    execution = schema["definitions"]["execution"]["properties"]
    assert tuple(execution) == RESOURCE_KEYS and set(RESOURCE_KEYS) == set(Resources.model_fields) - {"origin"}
    assert all(p["description"] for p in [*schema["properties"].values(), *execution.values()])
    assert "per node" in execution["gpus"]["description"]


@pytest.mark.parametrize("text", ["02:00:00", "1-12", "30", "5:00", "1-0:0:1", "1:2:3:4", "x", "", "-1", "1-"])
def test_the_time_pattern_is_slurms(text: str) -> None:
    assert bool(re.search(TIME, text)) == (time_parts(text) is not None)


@pytest.mark.parametrize("text", ["64G", "512M", "1T", "800", "64gb", "64 G", "G", "1.5G", "64X", ""])
def test_the_memory_pattern_is_slurms(text: str) -> None:
    assert bool(re.search(MEMORY, text)) == (memory_parts(text) is not None)


def test_a_header_written_in_an_editor(validator: jsonschema.Draft7Validator) -> None:
    header = {
        "kind": "trainable",
        "metaVariables": [{"name": "n", "type": "int32", "value": 3}, {"name": "dims", "type": {"type": "array", "underlying": "int32"}, "value": [2, 3]}],
        "type": {"input": {"columns": {"x": {"type": "tensor", "shape": "${dims}", "componentType": "float32"}}}, "output": "float32"},
        "trainingType": {"columns": {"${label}": "float32"}},
        "execution": {"gpus": 4, "time": "02:00:00", "memory": "64G", "parallel": "data"},
        "files": ["passed", "through"],
    }  # fmt: skip
    assert list(validator.iter_errors(header)) == []
    header["execution"]["gpus"] = -1
    header["metaVariables"][0]["value"] = 2.5
    bad = sorted("/".join(map(str, e.absolute_path)) for e in validator.iter_errors(header))
    assert bad == ["execution/gpus", "metaVariables/0/value"]


def test_the_yaml_language_server_modeline_is_a_comment_to_mfile(tmp_path: Path) -> None:
    header = tmp_path / "MantikHeader"
    header.write_text("# yaml-language-server: $schema=../schema.json\nkind: dataset\ntype: {columns: {x: float32}}\n", encoding="utf-8")
    reporter = Reporter()
    assert load_header(header, reporter) is not None and reporter.reports == []
