"""The code that runs inside each job: ``python -m mfile.runtime PLAN TASK``.

Importing this package stays cheap: heavy libraries (xarray, torch, mpi4py) are imported
by the modules that need them, so the compiler can import ``runtime.manifest`` freely.
"""
