#!/usr/bin/env bash
# Quick start: install mfile and its runtime, then compile and run the MNIST example
# pipeline end to end on this machine (no Slurm needed), and print the held-out accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh

# The example's input: scikit-learn's 8x8 handwritten digits, written as NetCDF.
.venv/bin/python examples/mnist/prepare_data.py

# Lint, then run the training pipeline (load, preprocess, split, hyperparameter search,
# select the best model, save it) and the inference pipeline that uses the saved model.
.venv/bin/mfile check examples/mnist/mnist.mfile
.venv/bin/mfile run examples/mnist/mnist.mfile --pipeline batch_pipeline -o runs
.venv/bin/mfile run examples/mnist/mnist.mfile --pipeline predict_pipeline -o runs

.venv/bin/python - <<'PY'
import json
metrics = json.load(open("runs/batch_pipeline/data/hyperparameter_search/metrics/metrics.json"))
best = metrics["best"]
print(f"best held-out {metrics['metric']}: {best['value']:.3f} "
      f"(grid point {best['point']}: {json.dumps(best['params'])})")
PY
