"""Fuzzing ``mfile compile`` end to end, bounded for CI: generated M-Files compiled in-process
with the local profile into a temporary directory; every script that is written must carry one
sanitised job name and pass ``bash -n``; nothing may run."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
import generate  # noqa: E402
import harness  # noqa: E402

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.data())
def test_generated_programs_through_compile(data) -> None:
    text = generate.program(generate.HypothesisChooser(data))
    work = Path(tempfile.mkdtemp(prefix="mfile-fuzz-"))
    try:
        harness.compile_text(text, work, bash_check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_clean_generated_program_compiles_and_its_scripts_parse(tmp_path: Path) -> None:
    """The generator reaches the end of the pipeline: some program compiles to a run directory."""
    compiled = 0
    for seed in range(400):
        work = tmp_path / str(seed)
        work.mkdir()
        code, _ = harness.compile_text(generate.program(generate.RandomChooser(seed)), work, bash_check=compiled < 3)
        compiled += code == 0
        if compiled >= 5:
            break
    assert compiled >= 5
