"""Training data: feature-store rows and modality maps into arrays, worker shard streams, LR draws, caches."""
