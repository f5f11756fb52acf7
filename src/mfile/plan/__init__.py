"""The plan contract every layer shares: the IR, data types, plan.json, the run directory
(completion records, jobs.json) and Slurm units. Imports only ``mfile.diagnostics``."""
