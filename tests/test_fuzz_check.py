"""Fuzzing the whole ``check`` (parse, names, lowering, items, types), bounded for CI.

Grammar- and meaning-aware programs from fuzz/generate.py (hypothesis draws every choice, so a
failure shrinks to a small program) and raw bytes, both through fuzz/harness.py's invariants:
no exception, registered codes, positions >= 1:1, filled placeholders, nothing executed, no
input slower than harness.SECONDS_PER_INPUT. The long campaign is fuzz/run_long.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
import generate  # noqa: E402
import harness  # noqa: E402

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SEEDS = [p.read_bytes() for p in sorted((harness.REPO / "tests" / "cases").glob("*/*.mfile"))]


@FUZZ
@given(st.data())
def test_generated_programs_through_check(data) -> None:
    text = generate.program(generate.HypothesisChooser(data))
    harness.check_bytes(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_through_check(data: bytes) -> None:
    harness.check_bytes(data)


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=6)), max_size=6))
def test_mutated_case_files_through_check(seed: bytes, edits) -> None:
    data = bytearray(seed)
    for pos, chunk in edits:
        at = pos % (len(data) + 1)
        data[at:at + len(chunk) // 2] = chunk
    harness.check_bytes(bytes(data))


def test_the_harness_catches_a_crash(monkeypatch) -> None:
    """The invariants can fail: an exception inside check propagates out of the harness."""
    import pytest

    def broken(*args, **kwargs):
        raise KeyError("model")

    monkeypatch.setattr(harness.checker(), "check_text", broken)
    with pytest.raises(KeyError):
        harness.check_bytes(b"x = 1\n")
