"""Experiments with their own entry points (``python -m trainers.experiments.<name>``): they use the
library in ``trainers`` and ``pipelines`` and nothing imports them. Their measured numbers are in the README."""
