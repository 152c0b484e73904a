"""The diffusion library: SDEs and schedules, losses, samplers, NFE counting, toy targets (pure torch).

It knows nothing of runs, files, configs or reports: nothing here imports the harness (`repro.*` outside
this package) or `papers/`. Networks live beside it in `repro.nets`.
"""
