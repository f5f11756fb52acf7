"""Fuzzing the MantikHeader loader, bounded for CI: generated headers (the seed's fields with
right, wrong and hostile values, aliases, tags, second documents) and mutated real headers."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
import generate  # noqa: E402
import harness  # noqa: E402

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
HEADERS = [p.read_bytes() for p in sorted((harness.REPO / "tests" / "headers").glob("*/*.yaml"))]


@FUZZ
@given(st.data())
def test_generated_headers(tmp_path: Path, data) -> None:
    harness.load_header_text(generate.header(generate.HypothesisChooser(data)), tmp_path)


@FUZZ
@given(st.sampled_from(HEADERS), st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=4)), max_size=5))
def test_mutated_real_headers(tmp_path: Path, seed: bytes, edits) -> None:
    data = bytearray(seed)
    for pos, chunk in edits:
        at = pos % (len(data) + 1)
        data[at:at + 1] = chunk
    harness.load_header_text(bytes(data), tmp_path)


@FUZZ
@given(st.binary(max_size=1500))
def test_random_bytes_as_a_header(tmp_path: Path, data: bytes) -> None:
    harness.load_header_text(data, tmp_path)
