"""The conv stacks that GAN, WGAN and WGAN-GP share.

The book builds the same discriminator and generator three times, once per
class.  Here they are built once, from the book's own arguments, so that the
three model classes only say what is different about them (the output
activation of the discriminator/critic, and whether batch norm is allowed).

Layer names follow the book (``discriminator_conv_0``, ``generator_conv_3``,
...) so that summaries read like the printed ones.
"""

import numpy as np
import keras
from keras import layers

from models.ops import fast_conv, subpixel
from models.recipe.minibatch_std import MinibatchStd

# The generators' UpSampling2D + Conv2D pairs are models/ops/subpixel.py's Conv2D, which can
# compute the convolution on the image before upsampling: the same layers, weights and
# results, fewer multiply-adds.  False here (or ``build_generator(...,
# exact_upsample_conv=False)``) builds the other Conv2D layers' class, for comparison.
EXACT_UPSAMPLE_CONV = True

# Every other Conv2D / Conv2DTranspose is models/ops/fast_conv.py's, which can compute the
# half TensorFlow is often slow at (the input gradient; a transposed convolution's
# forward pass) as a forward convolution: the same layers, weights and results.  Each of
# this project's layers times its forms when built and keeps the fastest here
# (models/ops/conv_forms.py).  False here (or ``fast_convolutions=False``) builds Keras' own
# classes, for comparison.
FAST_CONVOLUTIONS = True


def conv_class(plain, fast, fast_convolutions, **conv_args):
    """``fast`` where it applies (``fast_conv.supports``) and is asked for, else ``plain``."""
    if fast_convolutions is None:
        fast_convolutions = FAST_CONVOLUTIONS
    settings = {key: conv_args[key] for key in ("strides", "dilation_rate", "groups", "data_format",
                                                "padding") if key in conv_args}
    return fast if fast_convolutions and fast_conv.supports(**settings) else plain


def weight_init():
    """The book's initialiser: N(0, 0.02), as in the DCGAN paper."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def activation_layer(activation, name=None, dtype=None):
    """``'leaky_relu'`` means LeakyReLU(0.2) (the book's choice); anything else is a Keras name."""
    if activation == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.2, name=name, dtype=dtype)
    return layers.Activation(activation, name=name, dtype=dtype)


def build_discriminator(
    input_dim,
    conv_filters,
    conv_kernel_size,
    conv_strides,
    batch_norm_momentum,
    activation,
    dropout_rate,
    output_activation,
    name="discriminator",
    dtype=None,
    synchronized=False,
    fast_convolutions=None,
    spectral_norm=False,
    minibatch_std=False,
):
    """Conv stack → Flatten → Dense(1).

    Per layer: Conv2D('same') → BatchNorm (if a momentum is given, never on the
    first layer) → activation → Dropout (if a rate is given).  The output layer
    always computes in float32, so losses stay exact under mixed precision.
    ``fast_convolutions`` (default: the module's ``FAST_CONVOLUTIONS``, True) uses
    ``models.ops.fast_conv.Conv2D``: same layers and results, with the input gradient in
    the form measured fastest here (``models.ops.conv_forms``).  ``spectral_norm`` wraps every
    conv and the output layer in ``keras.layers.SpectralNormalization`` (``models.recipe``);
    ``minibatch_std`` adds the batch's standard deviation as a feature map before the last conv
    (``models.recipe.minibatch_std``).
    """
    _check_lengths(name, conv_filters, conv_kernel_size, conv_strides)

    def normalised(layer, layer_dtype=dtype):
        if not spectral_norm:
            return layer
        return layers.SpectralNormalization(layer, name=f"{layer.name}_sn", dtype=layer_dtype)

    inputs = keras.Input(shape=tuple(input_dim), name=f"{name}_input")
    x = inputs
    for i, (filters, kernel_size, strides) in enumerate(
        zip(conv_filters, conv_kernel_size, conv_strides)
    ):
        if minibatch_std and i == len(conv_filters) - 1:
            x = MinibatchStd(name=f"{name}_minibatch_std", dtype=dtype)(x)
        conv_args = dict(
            strides=strides,
            padding="same",
            kernel_initializer=weight_init(),
            name=f"{name}_conv_{i}",
            dtype=dtype,
        )
        conv = conv_class(layers.Conv2D, fast_conv.Conv2D, fast_convolutions, **conv_args)
        x = normalised(conv(filters, kernel_size, **conv_args))(x)
        if batch_norm_momentum and i > 0:
            x = layers.BatchNormalization(momentum=batch_norm_momentum, synchronized=synchronized, dtype=dtype)(x)
        x = activation_layer(activation, dtype=dtype)(x)
        if dropout_rate:
            x = layers.Dropout(rate=dropout_rate, dtype=dtype)(x)
    x = layers.Flatten(dtype=dtype)(x)
    # float32 around the output layer too: the wrapper casts its output to its input's dtype.
    outputs = normalised(layers.Dense(
        1,
        activation=output_activation,
        kernel_initializer=weight_init(),
        name=f"{name}_output",
        dtype="float32",
    ), layer_dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def build_generator(
    z_dim,
    initial_dense_layer_size,
    upsample,
    conv_filters,
    conv_kernel_size,
    conv_strides,
    batch_norm_momentum,
    activation,
    dropout_rate,
    name="generator",
    dtype=None,
    synchronized=False,
    exact_upsample_conv=None,
    fast_convolutions=None,
):
    """Dense → reshape → conv stack ending in tanh, so images lie in [-1, 1].

    ``upsample[i] == 2`` means UpSampling2D then a stride-1 Conv2D (the book's
    camel and CIFAR generators); anything else a Conv2DTranspose with
    ``conv_strides[i]`` (the CelebA generator).

    ``exact_upsample_conv`` (default: the module's ``EXACT_UPSAMPLE_CONV``, True)
    builds each UpSampling2D + Conv2D pair's convolution as ``models.ops.subpixel.Conv2D``
    (where that is exact), which can compute it as a small convolution of the image
    before upsampling followed by ``depth_to_space``: same layer names, weights,
    summary and images, fewer multiply-adds.  ``fast_convolutions`` (default: the
    module's ``FAST_CONVOLUTIONS``, True) builds the other convolutions as
    ``models.ops.fast_conv``'s layers, whose slow half can run as a forward convolution.
    Each of these layers computes the form measured fastest here
    (``models.ops.conv_forms``); where none beats Keras' own, Keras' own.
    """
    if exact_upsample_conv is None:
        exact_upsample_conv = EXACT_UPSAMPLE_CONV
    _check_lengths(name, conv_filters, conv_kernel_size, conv_strides, upsample)
    n_layers = len(conv_filters)
    inputs = keras.Input(shape=(z_dim,), name=f"{name}_input")
    x = layers.Dense(
        int(np.prod(initial_dense_layer_size)),
        kernel_initializer=weight_init(),
        dtype=dtype,
    )(inputs)
    if batch_norm_momentum:
        x = layers.BatchNormalization(momentum=batch_norm_momentum, synchronized=synchronized, dtype=dtype)(x)
    x = activation_layer(activation, dtype=dtype)(x)
    x = layers.Reshape(tuple(initial_dense_layer_size), dtype=dtype)(x)
    if dropout_rate:
        x = layers.Dropout(rate=dropout_rate, dtype=dtype)(x)

    for i in range(n_layers):
        conv_args = dict(
            filters=conv_filters[i],
            kernel_size=conv_kernel_size[i],
            padding="same",
            kernel_initializer=weight_init(),
            name=f"{name}_conv_{i}",
            dtype=dtype,
        )
        if upsample[i] == 2:
            upsampling = layers.UpSampling2D(dtype=dtype)
            x = upsampling(x)
            exact = exact_upsample_conv and subpixel.is_exact_after_upsampling(
                conv_args, upsampling.size, upsampling.interpolation)
            conv = subpixel.Conv2D if exact else conv_class(
                layers.Conv2D, fast_conv.Conv2D, fast_convolutions, **conv_args)
            x = conv(**conv_args)(x)
        else:
            conv_args["strides"] = conv_strides[i]
            conv = conv_class(layers.Conv2DTranspose, fast_conv.Conv2DTranspose, fast_convolutions,
                              **conv_args)
            x = conv(**conv_args)(x)
        if i < n_layers - 1:
            if batch_norm_momentum:
                x = layers.BatchNormalization(momentum=batch_norm_momentum, synchronized=synchronized, dtype=dtype)(x)
            x = activation_layer(activation, dtype=dtype)(x)
        else:
            x = layers.Activation("tanh", dtype="float32")(x)
    return keras.Model(inputs, x, name=name)


def _check_lengths(name, *per_layer_lists):
    lengths = {len(values) for values in per_layer_lists}
    if len(lengths) != 1:
        raise ValueError(
            f"{name}: the per-layer lists (filters, kernel sizes, strides"
            f"{', upsample' if len(per_layer_lists) > 3 else ''}) must have one entry "
            f"per layer; got lengths {[len(v) for v in per_layer_lists]}."
        )
