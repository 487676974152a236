"""The Ray Train harness both trainings share: trainer, worker loop, precision, checkpoints, prefetch."""
