"""Keep TensorFlow's CPU memory in a pool, so large tensors do not cost page faults.

By default TensorFlow's CPU allocator hands every tensor to ``malloc``, and glibc
serves blocks over its mmap threshold (at most 32 MB) with fresh pages from the
kernel, which are zeroed and faulted in on first touch and returned on free — in
every step, for every activation of that size.  The CIFAR WGAN's 32×32×64
activations at batch 128 are 33 MB: on a 2-core AVX2 EPYC one nearest
upsampling of them took 17.6 ms forward and 30.5 ms with its gradient, against
2.3 and 9.4 ms with TensorFlow's own pooling (BFC) allocator, and the whole
CIFAR step fell from 1885 to 1758 ms.

TensorFlow reads ``TF_CPU_ALLOCATOR_USE_BFC`` when it first allocates, so this
must run before TensorFlow is imported; the ``models`` package does it on import.
A value the user has set (``TF_CPU_ALLOCATOR_USE_BFC=false`` to opt out) is kept.
"""

import os

ALLOCATOR_VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"


def pool_cpu_memory():
    """Ask TensorFlow for its pooling CPU allocator unless the environment already says."""
    os.environ.setdefault(ALLOCATOR_VARIABLE, "true")
