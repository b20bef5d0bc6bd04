"""TensorFlow's op determinism, switched on for one piece of work and back off after it.

TensorFlow has a public switch to turn op determinism on
(``tf.config.experimental.enable_op_determinism``) but none to read it or turn
it off, so this module, and only this one, uses TensorFlow's private
``tensorflow.python.framework.config`` for those two.  Should that move, reading
says "on" and switching off does nothing: slower afterwards, never wrong.
"""

import contextlib


def _enabled():
    try:
        from tensorflow.python.framework import config

        return config.is_op_determinism_enabled()
    except (ImportError, AttributeError):  # pragma: no cover - private API moved
        return True


def _disable():
    try:
        from tensorflow.python.framework import config

        config.disable_op_determinism()
    except (ImportError, AttributeError):  # pragma: no cover - private API moved
        pass


@contextlib.contextmanager
def deterministic_ops():
    """Run the block with op determinism on (the same weights from the same seed), then leave it
    as it was, so that later work is not slowed."""
    import tensorflow as tf  # here, so that a command can answer its arguments before TF loads

    was_on = _enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_on:
            _disable()
