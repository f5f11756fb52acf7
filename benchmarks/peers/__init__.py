"""Peer-side generators and scripts (Snakemake, Kubeflow Pipelines, submitit).

The generators run in the project's environment (they only write text); the scripts they
write run in the peers' own virtual environment (``benchmarks/.work/peers-venv``).
"""
