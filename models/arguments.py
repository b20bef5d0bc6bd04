"""Arguments checked where they enter: the constructor, ``train``/``fit`` and the training data.

A bad value is refused before anything is built or trained, with a message
that names the argument, the value and what it should be, instead of an error
deep inside a compiled step (or, worse, a run that trains on garbage).
"""

import numbers

import numpy as np


def _fail(name, value, expected):
    raise ValueError(f"{name}={value!r}: {expected}.")


def positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        _fail(name, value, f"expected an integer of at least {minimum}")
    return int(value)


def positive_number(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        _fail(name, value, "expected a number greater than 0")
    return float(value)


def check_book_arguments(params, critic):
    """The constructor's book arguments (``critic`` is the prefix: 'discriminator' or 'critic')."""
    input_dim = params["input_dim"]
    if len(tuple(input_dim)) != 3:
        _fail("input_dim", input_dim, "expected (height, width, channels)")
    for size in input_dim:
        positive_int("input_dim", size)
    positive_int("z_dim", params["z_dim"])
    for prefix in (critic, "generator"):
        positive_number(f"{prefix}_learning_rate", params[f"{prefix}_learning_rate"])
        for name in ("conv_filters", "conv_kernel_size", "conv_strides"):
            values = params[f"{prefix}_{name}"]
            if not len(values):
                _fail(f"{prefix}_{name}", values, "expected one entry per layer")
            for value in values:
                positive_int(f"{prefix}_{name}", value)
        rate = params[f"{prefix}_dropout_rate"]
        if rate is not None and not (isinstance(rate, numbers.Real) and 0 <= rate < 1):
            _fail(f"{prefix}_dropout_rate", rate, "expected None or a rate in [0, 1)")
        momentum = params[f"{prefix}_batch_norm_momentum"]
        if momentum is not None and not (isinstance(momentum, numbers.Real) and 0 <= momentum < 1):
            _fail(f"{prefix}_batch_norm_momentum", momentum, "expected None or a momentum in [0, 1)")
    for size in params["generator_initial_dense_layer_size"]:
        positive_int("generator_initial_dense_layer_size", size)
    if not isinstance(params["optimiser"], str):
        _fail("optimiser", params["optimiser"], "expected 'adam', 'rmsprop' or another optimiser name")


def image_array(images, name="x_train"):
    """``images`` as a numpy array of (N, height, width, channels) images, at least one."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"{name} must be an array of images shaped (N, height, width, channels); got shape "
            f"{images.shape}. A stream of batches needs using_generator=True.")
    if len(images) == 0:
        raise ValueError(f"{name} is empty: there is nothing to train on.")
    return images


def check_images(images, input_dim, name="x_train"):
    """Refuse an image array the model cannot train on: wrong shape, not in [-1, 1], NaN."""
    images = image_array(images, name)
    if tuple(images.shape[1:]) != tuple(input_dim):
        raise ValueError(
            f"{name} holds images shaped {tuple(images.shape[1:])}, but the model was built for "
            f"input_dim={tuple(input_dim)}: resize the images or build the model for their shape.")
    if images.dtype == np.uint8 or not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"{name} holds {images.dtype} pixels; the generator draws in [-1, 1] (tanh), so scale "
            f"them as (x - 127.5) / 127.5, as the book's loaders do.")
    low, high = float(np.min(images)), float(np.max(images))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name} holds NaN or infinite values: training on them diverges at once.")
    if low < -1.0 - 1e-3 or high > 1.0 + 1e-3:
        raise ValueError(
            f"{name} values lie in [{low:g}, {high:g}], not in [-1, 1] where the generator draws "
            f"(tanh): scale pixels as (x - 127.5) / 127.5, as the book's loaders do.")


def check_batch_shape(element_shape, input_dim, name="the data"):
    """A stream's batches (N, height, width, channels) must match ``input_dim`` where it is known."""
    shape = tuple(element_shape)[-3:]
    known = [(got, want) for got, want in zip(shape, input_dim) if got is not None]
    if len(shape) != 3 or any(got != want for got, want in known):
        raise ValueError(
            f"{name} yields images shaped {tuple(element_shape)[1:]}, but the model was built for "
            f"input_dim={tuple(input_dim)}.")
