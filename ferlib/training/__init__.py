"""Training: the one trainer every method runs on, and what it needs around it.

- ``trainer``: the Trainer (``train``), its checks before any data loads, logging, exact
  resume (run folders, reuse and many runs at once: ``ferlib.runs``);
- ``checkpoint``: atomic checkpoints, ``load_model`` for inference;
- ``device``: picking CPU / CUDA / MPS; ``seeding``: seeds and RNG state for exact resume.

PyTorch DDP under ``torchrun`` (process group, gradient and value averaging) is
``ferlib.distributed``, below the methods, which average over ranks themselves.

Import the module you need (``from ferlib.training.trainer import train``): this package imports
nothing on its own.
"""
