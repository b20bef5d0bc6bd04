"""Which Keras backends this machine can run, asked before Keras is imported, and the one line that
says how to get a missing one (a command names it and stops before any work is done)."""

import importlib.util

# backend → (the package Keras imports, its name, how to install it for this project)
KNOWN = {
    "tensorflow": ("tensorflow", "TensorFlow", "pip install tensorflow"),
    "jax": ("jax", "JAX", "pip install -e '.[jax]'"),
    "torch": ("torch", "PyTorch", "pip install -e '.[torch]'"),
}


def installed(backend):
    """Whether the package of ``backend`` (a key of ``KNOWN``) can be imported here."""
    return importlib.util.find_spec(KNOWN[backend][0]) is not None


def problem(backend, where):
    """None when Keras can run on ``backend`` here, else one line naming ``where`` (the flag or
    variable that asked, e.g. ``'--backend torch'``) and the fix."""
    if backend == "numpy":
        return (f"{where}: Keras' numpy backend only runs models, it cannot train them (no gradients); "
                f"choose one of {', '.join(KNOWN)} (see docs/backends.md).")
    if backend not in KNOWN:
        return (f"{where}: Keras 3 runs on {', '.join(KNOWN)}, not {backend!r}; choose one of them "
                "(see docs/backends.md).")
    if not installed(backend):
        package, name, install = KNOWN[backend]
        others = [b for b in KNOWN if b != backend and installed(b)]
        return (f"{where}: {name} is not installed here; install it with {install} (docs/backends.md)"
                + (f", or use {' or '.join(others)}." if others else "."))
    return None
