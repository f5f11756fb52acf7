"""mfile: compile M-File ML workflows into Slurm batch jobs."""

__version__ = "0.1.0"
