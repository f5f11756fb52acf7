"""Talking to Slurm: sbatch/scancel (``scheduler``) and reading squeue/sacct/scontrol
(``query``). Imports only ``plan``; the commands and codegen call it."""
