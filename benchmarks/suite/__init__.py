"""The sections of ``benchmarks/run.py``. The generators (``benchmarks/gen_mfile.py`` and
``benchmarks/peers/``) are scripts in folders, not packages: put both folders on the path."""

import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parents[1]
for _p in (_BENCH / "peers", _BENCH):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
