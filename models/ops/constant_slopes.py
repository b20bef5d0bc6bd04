"""The critic's gradient with each (leaky) ReLU's slope held constant: the same values, less work.

Used by the gradient penalty (``models.objectives.gradient_penalty``), whose
update differentiates the critic's input gradient once more.
"""

import keras
from keras import ops


def call_with_constant_slopes(critic, x):
    """``critic(x, training=True)``, with each (leaky) ReLU's slope held constant under differentiation.

    A (leaky) ReLU critic is piecewise linear, so ∂critic/∂x depends on x only
    through which side of zero each unit sits, and the derivative of that is zero.
    TensorFlow's gradient of ``LeakyReluGrad`` nevertheless returns explicit zeros
    for it, and the penalty's update then back-propagates them through the whole
    forward pass: a third of the penalty's arithmetic spent on zeros.  Writing the
    activation as ``x · stop_gradient(slope)`` gives the same values and the same
    gradients without that pass.  Critics that are not a plain chain of layers are
    simply called.
    """
    chain = _layer_chain(critic)
    if chain is None:
        return critic(x, training=True)
    for layer in chain:
        slope = _negative_slope(layer)
        if slope is None:
            x = layer(x, training=True)
        else:
            x = ops.cast(x, layer.compute_dtype)
            slopes = ops.where(x > ops.zeros([], x.dtype), ops.ones([], x.dtype), ops.cast(slope, x.dtype))
            x = x * ops.stop_gradient(slopes)
    return x


def _negative_slope(layer):
    if isinstance(layer, keras.layers.LeakyReLU):
        return float(layer.negative_slope)
    if isinstance(layer, keras.layers.Activation) and layer.activation is keras.activations.relu:
        return 0.0
    return None


def _layer_chain(model):
    """The model's layers in order if each one feeds only the next (as our critics do), else None."""
    if not isinstance(model, keras.Model) or len(model.inputs or []) != 1:
        return None
    chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = model.inputs[0]
    try:
        for layer in chain:
            if layer.input is not previous:
                return None
            previous = layer.output
    except (AttributeError, ValueError):  # a layer called more than once, or never
        return None
    return chain if chain and previous is model.outputs[0] else None
