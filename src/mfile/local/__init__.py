"""The local executor behind ``mfile run``: starts each task of a run directory as a process
(``python -m mfile.runtime``), in dependency order. Imports only ``plan``."""
