"""MLflow tracking: the ``tracking`` config, explicit-client runs, restart-safe metrics, store relocation."""
