"""The training recipes, ``mmsr train`` and ``mmsr train-vq``: their configs, jobs, worker loops and outputs."""
