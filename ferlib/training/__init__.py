"""Training: the one trainer every method runs on, and what it needs around it.

- ``trainer``: ``train`` / ``fit_or_load``, run folders, logging, exact resume;
- ``checkpoint``: atomic checkpoints, ``load_model`` for inference;
- ``distributed``: PyTorch DDP under ``torchrun`` (process group, gradient and value averaging);
- ``device``: picking CPU / CUDA / MPS; ``seeding``: seeds and RNG state for exact resume.

Import the module you need (``from ferlib.training.trainer import train``): this package imports
nothing on its own, so that methods can use ``ferlib.training.distributed`` without a cycle.
"""
