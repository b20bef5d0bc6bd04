"""Convolutions whose slow half runs as a fast forward convolution: same layers, same maths.

On CPUs TensorFlow's forward ``Conv2D`` kernel is its fastest convolution; the
*input* gradient of a convolution (``Conv2DBackpropInput``) — which is also how
``Conv2DTranspose`` computes its forward pass — can run several times slower
for the same multiply-adds (docs/speed.md).  Every layer of the book's networks but the first needs that
input gradient in every update, and the critic's in the generator's update too.

The input gradient of a convolution with stride ``s`` is itself a forward
convolution, once it is split by output phase: input pixel ``n = s·m + a``
receives ``dy[m + o] · w[u]`` for the taps ``u`` with ``(a + p - u) = s·o``
(``p`` the padding before).  Gathering each phase's taps by offset ``o`` gives
one stride-1 convolution of ``dy`` with ``s·s·Cin`` filters whose channels
``tf.nn.depth_to_space`` puts back in place — for stride 1 that is just the
kernel flipped and transposed.  Nothing is approximated: the same products
are summed, in a different order.

:func:`conv2d` and :func:`conv2d_transpose` use that identity for the half
TensorFlow computes slowly; :class:`Conv2D` and :class:`Conv2DTranspose` are
Keras' layers (same class names, config, variables, summaries and weight
files) that compute either Keras' own form (``"keras"``) or this one
(``"fast"``), whichever ``models.ops.conv_forms`` measured faster for the layer on
this machine.  :func:`with_plain_layers` swaps Keras' own classes back in for
archives that must load without this project.
"""

import numpy as np
import keras

from models.ops import conv_forms

__all__ = ["Conv2D", "Conv2DTranspose", "conv2d", "conv2d_transpose", "supports",
           "with_bias_and_activation", "with_plain_layers"]


def supports(strides=1, dilation_rate=1, groups=1, data_format=None, padding="same"):
    """Whether a convolution with these settings can use this module (else use Keras' own)."""
    strides = tuple(np.broadcast_to(strides, (2,)))
    dilation = tuple(np.broadcast_to(dilation_rate, (2,)))
    data_format = data_format or keras.config.image_data_format()
    return (
        keras.backend.backend() == "tensorflow"
        and strides[0] == strides[1]
        and dilation == (1, 1)
        and groups == 1
        and data_format == "channels_last"
        and str(padding).lower() in ("same", "valid")
    )


def _conv_geometry(size, kernel_size, stride, padding):
    """(output size, padding before) of one spatial axis, as TensorFlow pads."""
    if padding == "VALID":
        return (size - kernel_size) // stride + 1, 0
    out = -(-size // stride)
    return out, max((out - 1) * stride + kernel_size - size, 0) // 2


def _phase_selection(size, kernel_size, stride, padding):
    """For one axis: 0/1 ``A[a, j, u]`` (phase ``a``, offset index ``j``, tap ``u``), the lowest
    offset, and the sizes involved.

    Input pixel ``s·m + a`` of a convolution receives ``dy[m + omin + j] · w[u]``
    where ``A[a, j, u] = 1``.
    """
    out, before = _conv_geometry(size, kernel_size, stride, padding)
    taps = [(a, (a + before - u) // stride, u)
            for a in range(stride) for u in range(kernel_size) if (a + before - u) % stride == 0]
    offsets = [o for _, o, _ in taps]
    low, high = min(offsets), max(offsets)
    selection = np.zeros((stride, high - low + 1, kernel_size), dtype=np.float32)
    for a, o, u in taps:
        selection[a, o - low, u] = 1.0
    return selection, low, out


def _pad_or_crop(x, axis, before, after):
    """Zero-pad (positive) or crop (negative) ``x`` along ``axis``."""
    import tensorflow as tf

    if before < 0 or after < 0:
        start = [0] * 4
        size = [-1] * 4
        start[axis] = max(-before, 0)
        size[axis] = x.shape[axis] - max(-before, 0) - max(-after, 0)
        x = tf.slice(x, start, size)
    if before > 0 or after > 0:
        pads = [[0, 0]] * 4
        pads[axis] = [max(before, 0), max(after, 0)]
        x = tf.pad(x, pads)
    return x


def conv_input_gradient(dy, kernel, input_size, strides, padding):
    """The input gradient of ``tf.nn.conv2d(x, kernel, strides, padding)`` for ``x`` of spatial
    size ``input_size``, computed as one stride-1 forward convolution (see the module notes).

    ``kernel`` is (K_h, K_w, C_x, C_y); ``dy`` is (batch, O_h, O_w, C_y); the result is
    (batch, H, W, C_x).  This is also ``tf.nn.conv2d_transpose(dy, kernel, ...)``.
    """
    import tensorflow as tf

    padding = padding.upper()
    stride = int(strides)
    k_h, k_w, c_x, c_y = kernel.shape
    plans = [_phase_selection(int(n), int(k), stride, padding)
             for n, k in zip(input_size, (k_h, k_w))]
    a_h, a_w = (tf.constant(plan[0], dtype=kernel.dtype) for plan in plans)
    phases = tf.einsum("aju,bkv,uvio->jkoabi", a_h, a_w, kernel)
    s_h, s_w = plans[0][0].shape[1], plans[1][0].shape[1]
    phases = tf.reshape(phases, (s_h, s_w, c_y, stride * stride * c_x))
    for axis, (selection, low, out), size in zip((1, 2), plans, input_size):
        rows = -(-int(size) // stride)
        span = selection.shape[1]
        dy = _pad_or_crop(dy, axis, -low, rows + span - 1 - out + low)
    grad = tf.nn.conv2d(dy, phases, strides=1, padding="VALID")
    if stride > 1:
        grad = tf.nn.depth_to_space(grad, stride)
        grad = grad[:, : int(input_size[0]), : int(input_size[1]), :]
    return grad


def conv2d(x, kernel, strides=1, padding="SAME"):
    """``tf.nn.conv2d`` (NHWC, equal strides, no dilation) whose input gradient runs as a
    forward convolution.  Differentiable twice (the gradient penalty needs that)."""
    import tensorflow as tf

    padding = padding.upper()
    input_size = tuple(x.shape[1:3])
    kernel = tf.convert_to_tensor(kernel)  # a variable's value: the gradient goes to the caller
    @tf.custom_gradient
    def convolve(x, kernel):
        y = tf.nn.conv2d(x, kernel, strides, padding)

        def grad(dy):
            dx = conv_input_gradient(dy, kernel, input_size, strides, padding)
            dkernel = tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=tf.shape(kernel), out_backprop=dy,
                strides=[1, strides, strides, 1], padding=padding)
            return dx, dkernel

        return y, grad

    if None in input_size:
        return tf.nn.conv2d(x, kernel, strides, padding)
    return convolve(x, kernel)


def conv2d_transpose(x, kernel, output_size, strides=1, padding="SAME"):
    """``tf.nn.conv2d_transpose`` (NHWC, equal strides, no dilation, no output padding) computed
    as a forward convolution, whose input gradient is ``tf.nn.conv2d``.

    ``kernel`` is (K_h, K_w, C_out, C_in), as Keras' ``Conv2DTranspose`` holds it.
    """
    import tensorflow as tf

    padding = padding.upper()
    output_size = tuple(int(n) for n in output_size)
    kernel = tf.convert_to_tensor(kernel)  # a variable's value: the gradient goes to the caller

    @tf.custom_gradient
    def transpose(x, kernel):
        y = conv_input_gradient(x, kernel, output_size, strides, padding)

        def grad(dy):
            dx = tf.nn.conv2d(dy, kernel, strides, padding)
            dkernel = tf.raw_ops.Conv2DBackpropFilter(
                input=dy, filter_sizes=tf.shape(kernel), out_backprop=x,
                strides=[1, strides, strides, 1], padding=padding)
            return dx, dkernel

        return y, grad

    return transpose(x, kernel)


def _check_supported(layer):
    if not supports(layer.strides, layer.dilation_rate, getattr(layer, "groups", 1),
                    layer.data_format, layer.padding):
        raise ValueError(
            f"{type(layer).__module__}.{type(layer).__name__} computes channels_last, "
            f"dilation-1, one-group convolutions with equal strides on the TensorFlow backend; "
            f"use keras.layers.{type(layer).__name__} for layer {layer.name!r}.")


# The classes keep Keras' names on purpose: Keras writes a layer's class name into
# summaries ("discriminator_conv_0 (Conv2D)") and into the paths of weight files.
@keras.saving.register_keras_serializable(package="gdl", name="FastConv2D")
class Conv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose input gradient may run as a forward convolution.

    ``conv_form`` (chosen in ``build`` by ``models.ops.conv_forms``): ``"keras"``, Keras'
    own op and gradient, or ``"fast"``, the input gradient as a forward convolution.
    """

    plain_class = keras.layers.Conv2D
    form_candidates = ("keras", "fast")
    fast_form = "fast"

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        _check_supported(self)
        self.conv_form = None

    def build(self, input_shape):
        super().build(input_shape)
        self.conv_form = conv_forms.choose(self, input_shape)

    def form_output(self, inputs, kernel, form):
        """The convolution of ``inputs`` with ``kernel`` computed in ``form``."""
        if form == "keras":
            return super().convolution_op(inputs, kernel)
        if form == "fast":
            return conv2d(inputs, kernel, self.strides[0], self.padding)
        raise ValueError(f"{self.name}: no convolution form {form!r}; {self.form_candidates}.")

    def convolution_op(self, inputs, kernel):
        return self.form_output(inputs, kernel, self.conv_form)


@keras.saving.register_keras_serializable(package="gdl", name="FastConv2DTranspose")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose`` that may run as a forward convolution.

    ``conv_form`` (chosen in ``build`` by ``models.ops.conv_forms``): ``"keras"``, Keras'
    own op and gradient, or ``"fast"``, the transposed product as a forward convolution.
    """

    plain_class = keras.layers.Conv2DTranspose
    form_candidates = ("keras", "fast")
    fast_form = "fast"

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        _check_supported(self)
        if self.output_padding is not None:
            raise ValueError(
                f"{__name__}.Conv2DTranspose does not take output_padding; use "
                f"keras.layers.Conv2DTranspose for layer {self.name!r}.")
        self.conv_form = None

    def build(self, input_shape):
        super().build(input_shape)
        self.conv_form = conv_forms.choose(self, input_shape)

    def form_output(self, inputs, kernel, form):
        """The transposed convolution of ``inputs`` with ``kernel`` computed in ``form``."""
        import tensorflow as tf

        output_size = self.compute_output_shape(inputs.shape)[1:3]
        if form == "keras" or (form == "fast" and None in output_size):
            return keras.ops.conv_transpose(
                inputs, kernel, strides=list(self.strides), padding=self.padding,
                output_padding=self.output_padding, dilation_rate=self.dilation_rate,
                data_format=self.data_format)
        if form == "fast":
            # The kernel is (K, K, filters, input channels): the convolution it transposes
            # goes from `filters` channels to the input's.
            kernel = tf.cast(kernel, inputs.dtype)
            return conv2d_transpose(inputs, kernel, output_size, self.strides[0], self.padding)
        raise ValueError(f"{self.name}: no convolution form {form!r}; {self.form_candidates}.")

    def call(self, inputs):
        if self.conv_form == "keras":
            return super().call(inputs)
        return with_bias_and_activation(self, self.form_output(inputs, self.kernel, self.conv_form))


def with_bias_and_activation(layer, outputs):
    """A convolution layer's ``outputs`` plus its bias (broadcast over the channels, a plain add
    rather than ``bias_add``), then its activation, as Keras' convolution layers finish."""
    if layer.use_bias:
        bias = keras.ops.cast(layer.bias, outputs.dtype)
        outputs = outputs + keras.ops.reshape(bias, (1, 1, 1, layer.filters))
    if layer.activation is not None:
        return layer.activation(outputs)
    return outputs


def with_plain_layers(model):
    """A copy of ``model`` with Keras' own layer classes in place of this project's faster ones
    (this module's and ``models.ops.subpixel``'s), same weights and images.

    Archives of the copy (``generator.keras``) load with ``keras.models.load_model``
    anywhere, without importing this project.  The copy is not compiled (its
    compile settings would name this project's loss methods); a run's optimizer
    state lives in its checkpoint.
    """
    def clone(layer):
        plain = getattr(type(layer), "plain_class", None) or layer.__class__
        return plain.from_config(layer.get_config())

    if not any(getattr(type(layer), "plain_class", None) for layer in model.layers):
        return model
    uncompiled = keras.Model(model.inputs, model.outputs, name=model.name)
    copy = keras.models.clone_model(uncompiled, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
