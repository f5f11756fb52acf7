"""``ir.Program`` + site profile -> run directory (plan.json, sbatch scripts, submit.sh), with
the resource checks (E4xx). Imports ``plan`` and ``slurm``; never the compiler or the runtime."""
