"""Only what runs inside a job: ``python -m mfile.runtime PLAN TASK`` loads the payload, reads
and checks data, writes outputs and the completion record. Imports only ``plan``.

Importing this package stays cheap: heavy modules (xarray, torch, mpi4py) are imported by the
functions that need them.
"""
