"""The complete example item of docs/items.md runs through the runtime (train, then predict)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "runtime_items"))
from rt_plans import MODEL, VOID, bind, item, run, table, task, write_plan  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "items.md"


def test_items_md_example_trains_and_predicts(tmp_path):
    text = DOC.read_text()
    header = re.search(r"persistence/1/MantikHeader`:\n\n```yaml\n(.*?)```", text, re.S).group(1)
    payload = re.search(r"persistence/1/payload.py`:\n\n```python\n(.*?)```", text, re.S).group(1)
    assert yaml.safe_load(header)["kind"] == "trainable"
    d = tmp_path / "items" / "test" / "persistence" / "1"
    d.mkdir(parents=True)
    (d / "MantikHeader").write_text(header)
    (d / "payload.py").write_text(payload)
    # The data: a field of 50 time steps, written as a finished port by a tiny dataset item.
    src = tmp_path / "items" / "test" / "field" / "1"
    src.mkdir(parents=True)
    (src / "MantikHeader").write_text("name: field\nkind: dataset\n")
    (src / "payload.py").write_text(
        "import numpy as np, xarray as xr\n"
        "def load(params, ctx):\n"
        "    t = np.arange(50, dtype='float32')\n"
        "    f = np.sin(t / 5)[:, None, None] * np.ones((50, 3, 4), 'float32')\n"
        "    return xr.Dataset({'t2m': (('time', 'lat', 'lon'), f)}, attrs={'sample_dim': 'time'})\n"
    )
    field = table(t2m=([None, None], "float32"))
    tasks = [
        task("field", item("field", "dataset", root=tmp_path / "items"), outputs=(("output", field),)),
        task("train", item("persistence", "trainable", root=tmp_path / "items"), {"variable": "t2m", "lag": 1},
             inputs=[bind("input", "field", type=field)], outputs=(("model", MODEL), ("stats", VOID))),
        task("predict", item("persistence", "trainable", root=tmp_path / "items"), mode="predict",
             inputs=[bind("model", "train", "model", type=MODEL), bind("input", "field", type=field)], outputs=(("output", field),)),
    ]  # fmt: skip
    plan = write_plan(tmp_path / "p", tasks)
    for t in ("field", "train", "predict"):
        res = run(plan, t)
        assert res.returncode == 0, res.stderr
    model = tmp_path / "p" / "data" / "train" / "model"
    assert {"MantikHeader", "model.json", "payload.py", "persistence.json", "stats.json"} <= {p.name for p in model.iterdir()}
    t = np.arange(50, dtype="float32")
    want = float(np.sqrt(((np.sin(t[1:] / 5) - np.sin(t[:-1] / 5)) ** 2).mean()))
    assert json.loads((model / "stats.json").read_text())["rmse"] == pytest.approx(want, rel=1e-5)
    pred = xr.open_dataset(tmp_path / "p" / "data" / "predict" / "output" / "part-0000.nc")
    np.testing.assert_allclose(pred["t2m"].values[1:, 0, 0], np.sin(t[:-1] / 5), rtol=1e-6)

