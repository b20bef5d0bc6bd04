"""Arguments checked where they enter: the constructor, ``train``/``fit`` and the training data.

A bad value is refused before anything is built or trained, with a message
that names the argument, the value and what it should be, instead of an error
deep inside a compiled step (or, worse, a run that trains on garbage).
"""

import numbers
import os
import warnings

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


def check_book_arguments(params, adversary):
    """The constructor's book arguments (``adversary``: their prefix, 'discriminator' or 'critic')."""
    input_dim = params["input_dim"]
    if len(tuple(input_dim)) != 3:
        _fail("input_dim", input_dim, "expected (height, width, channels)")
    for size in input_dim:
        positive_int("input_dim", size)
    positive_int("z_dim", params["z_dim"])
    for prefix in (adversary, "generator"):
        positive_number(f"{prefix}_learning_rate", params[f"{prefix}_learning_rate"])
        per_layer = ["conv_filters", "conv_kernel_size", "conv_strides"] + (
            ["upsample"] if prefix == "generator" else [])
        for name in per_layer:
            values = params[f"{prefix}_{name}"]
            if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values:
                _fail(f"{prefix}_{name}", values, "expected a list with one entry per layer, "
                      "e.g. [64, 64, 128, 128]")
            for value in values:
                positive_int(f"{prefix}_{name}", value)
        lengths = {name: len(params[f"{prefix}_{name}"]) for name in per_layer}
        if len(set(lengths.values())) > 1:
            _fail(f"{prefix}_{per_layer[0]}", params[f"{prefix}_{per_layer[0]}"],
                  "expected as many layers as " + ", ".join(
                      f"{prefix}_{name} ({n})" for name, n in lengths.items() if name != per_layer[0]))
        check_activation(f"{prefix}_activation", params[f"{prefix}_activation"])
        rate = params[f"{prefix}_dropout_rate"]
        if rate is not None and not (isinstance(rate, numbers.Real) and 0 <= rate < 1):
            _fail(f"{prefix}_dropout_rate", rate, "expected None or a rate in [0, 1)")
        momentum = params[f"{prefix}_batch_norm_momentum"]
        if momentum is not None and not (isinstance(momentum, numbers.Real) and 0 <= momentum < 1):
            _fail(f"{prefix}_batch_norm_momentum", momentum, "expected None or a momentum in [0, 1)")
    initial = params["generator_initial_dense_layer_size"]
    if isinstance(initial, (str, bytes)) or not isinstance(initial, (list, tuple)) or len(initial) != 3:
        _fail("generator_initial_dense_layer_size", initial, "expected (height, width, channels)")
    for size in initial:
        positive_int("generator_initial_dense_layer_size", size)
    check_dense_size(params["z_dim"], int(np.prod(initial)))
    optimiser = params["optimiser"]
    if not isinstance(optimiser, str):
        _fail("optimiser", optimiser, "expected 'adam' or 'rmsprop'")
    if optimiser not in ("adam", "rmsprop"):
        warnings.warn(
            f"optimiser={optimiser!r} is neither 'adam' nor 'rmsprop', so, as the book's get_opti "
            "does, the model trains with Adam at Keras' default beta_1=0.9 (not the 0.5 of "
            "'adam'). Pass 'adam' or 'rmsprop' if that is not what you meant.", stacklevel=4)


def check_activation(name, value):
    """'leaky_relu' (the book's LeakyReLU(0.2)) or a name Keras knows."""
    import keras

    if value == "leaky_relu":
        return
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        _fail(name, value, "expected 'leaky_relu' or a Keras activation name such as 'relu', "
              "'tanh' or 'elu'")


def check_dense_size(z_dim, units):
    """Refuse a generator whose first dense layer (z_dim × units weights) cannot fit in this
    machine's memory with its optimizer state; say so when it is unusually large."""
    weights = z_dim * units
    needed = weights * 4 * 4  # float32 weights, their gradient and two optimizer slots
    memory = _physical_memory()
    if memory and needed > memory:
        _fail("z_dim", z_dim, f"the generator's first dense layer would hold {z_dim:,} × {units:,} = "
              f"{weights / 1e9:.1f} G weights, which need about {needed / 2**30:,.0f} GiB to train, more "
              f"than this machine's {memory / 2**30:.0f} GiB; the book uses a latent size of 100")
    if weights > 50_000_000:
        warnings.warn(f"z_dim={z_dim:,}: the generator's first dense layer holds {weights / 1e6:,.0f} M "
                      f"weights ({z_dim:,} × {units:,}); the book's latent size is 100.", stacklevel=5)


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


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


def check_batch_fits(batch_size, n_images, given_as, images="training images"):
    """A batch larger than the data would hold repeats of the same images: refuse it.

    ``given_as`` says how the batch size was given (``batch_size=…`` or ``--batch-size …``).
    """
    if batch_size > n_images:
        raise ValueError(
            f"{given_as} is more than the {n_images} {images}: every batch would repeat images. "
            f"Use a batch size of at most {n_images}.")


def check_labels(labels, num_classes, name="y_train"):
    """Classes must be integers 0 … num_classes − 1: any other becomes an all-zero one-hot
    vector in the networks, a class the model silently never learns."""
    labels = np.asarray(labels)
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must hold integer classes (0, 1, ...); got {labels.dtype}.")
    outside = labels[(labels < 0) | (labels >= num_classes)] if labels.size else labels
    if outside.size:
        found = sorted(set(outside.reshape(-1).tolist()))
        raise ValueError(
            f"{name} holds {outside.size} label(s) outside the model's classes 0-{num_classes - 1} "
            f"(num_classes={num_classes}): {found[:10]}{' ...' if len(found) > 10 else ''}. Renumber "
            f"the classes from 0, or build the model with num_classes covering them.")
    return labels


def check_batch_shape(element_shape, input_dim, name="the data"):
    """A stream's batches (N, height, width, channels) must match ``input_dim`` where it is known."""
    shape = tuple(element_shape)[-3:]
    known = [(got, want) for got, want in zip(shape, input_dim) if got is not None]
    if len(shape) != 3 or any(got != want for got, want in known):
        raise ValueError(
            f"{name} yields images shaped {tuple(element_shape)[1:]}, but the model was built for "
            f"input_dim={tuple(input_dim)}.")
