"""The read side: projections that fold the log into SQL read models, caught up by workers.

See `registry.py` for the projections and their tables, `runner.py` for how a batch is applied
exactly once, `rebuild.py` for rebuilding from position 0, `service.py` for what the workers and
the `pop projections` commands call.
"""
