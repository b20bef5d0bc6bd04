"""The book's ``UpSampling2D`` + ``Conv2D('same')`` pair, computed exactly and cheaper.

A nearest ×2 upsampling followed by a stride-1 K×K convolution with 'same'
padding is itself a convolution of the *un-upsampled* image: output pixel
``(2i + a, 2j + b)`` (phases ``a, b`` in {0, 1}) reads input pixel
``i + floor((a + u - p) / 2)`` through kernel tap ``u`` (``p = (K - 1) / 2``),
so several taps land on the same input pixel and can be added up first.  The
offsets span ``-h..h`` with ``h = ceil(p / 2)``: each phase is an S×S
convolution (``S = 2h + 1``: 3 for K = 3 or 5, 5 for K = 7).  The four phases
together are one S×S convolution with 4× the filters, whose channels
``(a·2 + b)·Cout + co`` ``tf.nn.depth_to_space(·, 2)`` puts back in place (its
default "DCR" order).  For K = 5 that is 36 instead of 100 multiply-adds per
input pixel and channel pair.

:class:`Conv2D` here *is* the book's ``Conv2D``: a subclass with the same name,
constructor, config, ``kernel`` (K, K, Cin, Cout) and ``bias`` variables, so
summaries, parameter counts, weight files and saved archives read exactly as
the book's.  It still sits after the (unchanged) ``UpSampling2D`` layer and
takes the upsampled image; only its ``call`` differs:

1. ``x[:, ::2, ::2, :]`` recovers the un-upsampled image exactly (nearest
   upsampling only copies pixels), and the gradient through that slice and the
   upsampling's backward pass (which sums each 2×2 block) is the exact gradient
   with respect to the image before upsampling (:func:`take_even_pixels` computes
   that slice and its gradient without per-element strides);
2. the phase kernel is built from ``self.kernel`` on every call (a constant 0/1
   selection tensor contracted with it), so training updates the book's kernel;
3. ``fast_conv.conv2d(..., 'SAME')`` (whose input gradient is a forward
   convolution too), ``tf.nn.depth_to_space(·, 2)``, then the bias and
   activation, as ``Conv2D`` adds them.

That is the layer's ``"subpixel"`` form.  Where it does not pay on a machine the
layer computes the plain convolution of the upsampled image instead, with Keras'
gradient (``"keras"``) or a forward-convolution input gradient (``"fast"``), or the
subpixel form with Keras' own inner input gradient (``"subpixel-keras-gradient"``):
``models.ops.conv_forms`` times them when the layer is built.

The zero padding agrees too: an upsampled pixel ``2i + a + u - p`` lies
outside ``[0, 2H)`` exactly when its input pixel ``i + floor((a + u - p)/2)``
lies outside ``[0, H)``.

It is only exact for what it assumes, so :func:`is_exact_after_upsampling`
says when it may replace a plain ``Conv2D``: after a nearest ×2
``UpSampling2D``, stride 1, dilation 1, 'same' padding, odd kernel sizes, one
group, channels_last.  The layer itself refuses any other configuration, and an
input whose height or width is odd (which no ×2 upsampling makes).

On JAX and PyTorch the subpixel form is written with ``keras.ops`` (the strided
slice, ``ops.conv``, and ``depth_to_space`` as a reshape and transpose) and takes
those backends' own gradients; there the candidates are ``"keras"`` and
``"subpixel"`` (the two forms with a hand-made gradient are TensorFlow's), measured
on that backend like any other.
"""

import numpy as np
import keras

from models.ops import conv_forms, fast_conv

__all__ = ["Conv2D", "is_exact_after_upsampling", "phase_selection", "take_even_pixels"]



def phase_selection(kernel_size):
    """The 0/1 tensor ``A[a, s, u]``: kernel tap ``u`` of output phase ``a`` reads offset ``s - h``.

    ``A[a, s, u] = 1`` when ``floor((a + u - p) / 2) + h == s``, with ``p = (K - 1) / 2``
    and ``h = ceil(p / 2)``; shape ``(2, 2h + 1, K)``.
    """
    k = int(kernel_size)
    if k < 1 or k % 2 == 0:
        raise ValueError(f"phase_selection needs an odd kernel size, got {kernel_size}.")
    p = (k - 1) // 2
    h = (p + 1) // 2
    a = np.zeros((2, 2 * h + 1, k), dtype=np.float32)
    for phase in range(2):
        for u in range(k):
            a[phase, (phase + u - p) // 2 + h, u] = 1.0  # Python's // is floor division
    return a


def is_exact_after_upsampling(conv_args, upsampling_size=(2, 2), interpolation="nearest"):
    """Whether a ``Conv2D(**conv_args)`` after ``UpSampling2D(upsampling_size, interpolation)``
    may be computed by :class:`Conv2D` here with exactly the same result."""
    if tuple(np.broadcast_to(upsampling_size, (2,))) != (2, 2) or interpolation != "nearest":
        return False
    kernel_size = tuple(np.broadcast_to(conv_args.get("kernel_size"), (2,)))
    strides = tuple(np.broadcast_to(conv_args.get("strides", 1), (2,)))
    dilation = tuple(np.broadcast_to(conv_args.get("dilation_rate", 1), (2,)))
    data_format = conv_args.get("data_format") or keras.config.image_data_format()
    return (
        str(conv_args.get("padding", "valid")).lower() == "same"
        and all(int(k) % 2 == 1 for k in kernel_size)
        and strides == (1, 1)
        and dilation == (1, 1)
        and conv_args.get("groups", 1) == 1
        and data_format == "channels_last"
    )


def take_even_pixels(x):
    """``x[:, ::2, ::2, :]`` for a (batch, 2H, 2W, C) tensor, with a cheap gradient.

    The same values and gradient as the strided slice, computed as a reshape to
    (batch, H, 2, W, 2C) and a slice of contiguous runs of C channels; the gradient
    is the incoming one padded with zeros and reshaped back: TensorFlow's strided
    slice and its gradient are several times slower on CPUs (docs/speed.md).
    """
    channels = x.shape[-1]
    if channels is None or keras.backend.backend() != "tensorflow":
        return x[:, ::2, ::2, :]
    import tensorflow as tf

    @tf.custom_gradient
    def take(x):
        shape = tf.shape(x)
        height, width = shape[1] // 2, shape[2] // 2
        pairs = tf.reshape(x, tf.stack([shape[0], height, 2, width, 2 * channels]))
        y = pairs[:, :, 0, :, :channels]

        def grad(dy):
            padded = tf.pad(dy[:, :, None, :, :], [[0, 0], [0, 0], [0, 1], [0, 0], [0, channels]])
            return tf.reshape(padded, shape)

        return y, grad

    y = take(x)
    y.set_shape([x.shape[0], _half(x.shape[1]), _half(x.shape[2]), channels])
    return y


def depth_to_space(x):
    """``tf.nn.depth_to_space(x, 2)`` in ``keras.ops``: channel ``(a·2 + b)·C + c`` of pixel
    ``(i, j)`` goes to channel ``c`` of pixel ``(2i + a, 2j + b)``."""
    ops = keras.ops
    height, width, channels = x.shape[1], x.shape[2], x.shape[3] // 4
    x = ops.reshape(x, (-1, height, width, 2, 2, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, 2 * height, 2 * width, channels))


def _half(size):
    return None if size is None else size // 2


# The class is called Conv2D on purpose: Keras writes a layer's class name into
# summaries ("generator_conv_0 (Conv2D)") and into the paths of weight files
# ("layers/conv2d_1/vars"), and both must stay the book's.
@keras.saving.register_keras_serializable(package="gdl")
class Conv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` for the output of a nearest ×2 ``UpSampling2D``, computed
    as an S×S convolution of the image before upsampling and ``depth_to_space`` where
    that is faster (``conv_form``, see the module notes).

    Same arguments, variables, config and results as ``keras.layers.Conv2D``; it
    accepts only the configurations where that is exact (see the module notes).
    """

    plain_class = keras.layers.Conv2D  # what fast_conv.with_plain_layers puts back
    fast_form = "subpixel"

    @property
    def form_candidates(self):
        """The forms this layer can compute on the backend Keras runs on, Keras' own first."""
        if keras.backend.backend() == "tensorflow":
            return ("keras", "fast", "subpixel", "subpixel-keras-gradient")
        return ("keras", "subpixel")

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        args = dict(kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
                    dilation_rate=self.dilation_rate, groups=self.groups,
                    data_format=self.data_format)
        if not is_exact_after_upsampling(args):
            raise ValueError(
                f"{type(self).__module__}.Conv2D computes a stride-1, dilation-1, 'same', "
                f"odd-kernel, channels_last convolution after a nearest ×2 upsampling; use "
                f"keras.layers.Conv2D for {args}.")
        self._selection = [phase_selection(k) for k in self.kernel_size]
        self.conv_form = None

    def build(self, input_shape):
        for size in input_shape[1:3]:
            if size is not None and size % 2:
                raise ValueError(
                    f"Layer {self.name} expects the output of a ×2 upsampling, whose height "
                    f"and width are even; got input shape {input_shape}.")
        super().build(input_shape)
        self.conv_form = conv_forms.choose(self, input_shape)

    def phase_kernel(self, kernel):
        """The (S_h, S_w, Cin, 4·Cout) kernel of the four phases, in depth_to_space's order."""
        ops = keras.ops
        a_h = ops.convert_to_tensor(self._selection[0], dtype=kernel.dtype)
        a_w = ops.convert_to_tensor(self._selection[1], dtype=kernel.dtype)
        combined = ops.einsum("asu,btv,uvio->stiabo", a_h, a_w, kernel)
        s_h, s_w = self._selection[0].shape[1], self._selection[1].shape[1]
        cin = kernel.shape[2]
        return ops.reshape(combined, (s_h, s_w, cin, 4 * self.filters))

    def form_output(self, inputs, kernel, form):
        """The convolution of the upsampled ``inputs`` with ``kernel`` computed in ``form``."""
        if form not in self.form_candidates:
            raise ValueError(f"{self.name}: no convolution form {form!r} on {keras.backend.backend()}; "
                             f"{self.form_candidates}.")
        if form == "keras":
            return super().convolution_op(inputs, kernel)
        if form == "fast":
            return fast_conv.conv2d(inputs, kernel, strides=1, padding="SAME")
        small = take_even_pixels(inputs)  # exactly the image before the nearest ×2 upsampling
        kernel = self.phase_kernel(keras.ops.cast(kernel, small.dtype))
        if keras.backend.backend() != "tensorflow":
            return depth_to_space(keras.ops.conv(small, kernel, strides=1, padding="same"))
        import tensorflow as tf

        convolve = fast_conv.conv2d if form == "subpixel" else tf.nn.conv2d
        return tf.nn.depth_to_space(convolve(small, kernel, 1, "SAME"), 2)

    def call(self, inputs):
        return fast_conv.with_bias_and_activation(
            self, self.form_output(inputs, self.kernel, self.conv_form))
