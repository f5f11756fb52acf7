"""Every built-in and example item: its header loads cleanly and its payload has its kind's functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfile.compiler.headers.loader import load_header
from mfile.diagnostics import Reporter
from mfile.itemlib import local

REPO = Path(__file__).resolve().parents[1]
HEADERS = sorted((local.BUILTIN_ITEMS / "mfile").glob("*/*/MantikHeader")) + sorted(REPO.glob("examples/*/items/**/MantikHeader"))
FUNCTIONS = {"dataset": ["load"], "algorithm": ["apply"], "trainable": ["train", "save", "predict"], "deployment": ["deploy"]}
BUILTINS = {"netcdf", "grib", "normalize", "train_test_split", "timelag", "join", "evaluate", "save_model", "mlp", "cnn"}


def test_all_builtin_items_are_there():
    assert {p.parent.parent.name for p in HEADERS if local.BUILTIN_ITEMS in p.parents} == BUILTINS


@pytest.mark.parametrize("header", HEADERS, ids=lambda p: str(p.parent.parent.relative_to(p.parents[3])))
def test_header_loads_and_payload_matches_kind(header):
    reporter = Reporter()
    loaded = load_header(header, reporter)
    assert loaded is not None and [r.code for r in reporter.reports] == [], [r.message for r in reporter.reports]
    resolved = loaded.resolve({}, Reporter(), None)
    assert resolved is not None
    assert loaded.name == header.parent.parent.name
    payload = local.load_payload(header.parent)
    for fn in FUNCTIONS[loaded.kind]:
        assert callable(getattr(payload, fn, None)), f"{header.parent}: payload has no {fn}()"
