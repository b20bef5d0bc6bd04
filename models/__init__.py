"""The chapter's models.  Importing the package pools TensorFlow's CPU memory
(``models.ops.cpu_memory``): that has to happen before TensorFlow's first allocation."""

from models.ops.cpu_memory import pool_cpu_memory

pool_cpu_memory()
