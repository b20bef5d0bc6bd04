"""Data, runs, evaluation and commands around the chapter's models.  Importing the package
pools TensorFlow's CPU memory first (``models.ops.cpu_memory``), as ``models`` does."""

from models.ops.cpu_memory import pool_cpu_memory

pool_cpu_memory()
