"""Keep TensorFlow's CPU memory in a pool, so large tensors do not cost page faults.

By default TensorFlow's CPU allocator hands every tensor to ``malloc``, and glibc
serves blocks over its mmap threshold (at most 32 MB) with fresh pages from the
kernel, which are zeroed and faulted in on first touch and returned on free — in
every step, for every activation of that size (the CIFAR WGAN's 32×32×64
activations at batch 128 are 33 MB).  TensorFlow's own pooling (BFC) allocator
keeps them; docs/speed.md gives what it saved.

TensorFlow reads ``TF_CPU_ALLOCATOR_USE_BFC`` when it first allocates, so this
must run before TensorFlow is imported; the ``models`` package does it on import.
A value the user has set (``TF_CPU_ALLOCATOR_USE_BFC=false`` to opt out) is kept.
"""

import os

ALLOCATOR_VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"


def pool_cpu_memory():
    """Ask TensorFlow for its pooling CPU allocator unless the environment already says."""
    os.environ.setdefault(ALLOCATOR_VARIABLE, "true")
