"""Training: models, the Ray Train harness, training data, the two recipes and experiments.

Subpackages stack in floors, lowest first; a module imports only from its own subpackage or a lower
floor (``tests/test_import_layers.py``), and no module sits at this package's root:

tracking     MLflow helpers: the ``tracking`` config, explicit-client runs, metrics, store relocation
             (orchestration imports them too)
models       the MMSR models and their math (diffusers/transformers); no training loop
harness      the Ray Train harness both trainings share: trainer, worker loop, precision, checkpoints
data         what a worker trains on: feature-store rows and maps into arrays, shard streams, LR draws
             (harness and data are siblings: neither imports the other)
recipes      ``mmsr train`` (diffusion) and ``mmsr train-vq`` (VQ tokenizer): configs, jobs, tasks
experiments  ``python -m`` experiments; nothing imports them
"""
