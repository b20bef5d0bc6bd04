"""Convolutions whose slow half runs as a forward convolution (models/ops/fast_conv.py).

The same values and gradients as TensorFlow's own ops for any kernel size,
stride, padding and image size; differentiable twice (the gradient penalty);
the chapter networks keep Keras' layer names, summaries and weight files; and
the slow op really is gone from the graph where the fast form is used.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import networks
from models.ops import conv_forms, fast_conv
from utils import presets
from tiny import assert_close


CASES = [  # kernel, stride, height, width, padding
    (1, 1, 5, 4, "SAME"), (3, 1, 6, 5, "SAME"), (4, 1, 7, 7, "SAME"), (5, 1, 4, 4, "SAME"),
    (5, 2, 14, 14, "SAME"), (5, 2, 7, 8, "SAME"), (3, 2, 9, 6, "SAME"), (4, 2, 8, 5, "SAME"),
    (5, 3, 10, 11, "SAME"), (2, 3, 7, 9, "SAME"), (7, 2, 5, 6, "SAME"),
    (3, 1, 6, 7, "VALID"), (5, 2, 11, 12, "VALID"), (4, 3, 13, 10, "VALID"),
]


@pytest.mark.parametrize("kernel_size, stride, height, width, padding", CASES)
def test_conv2d_values_and_gradients_equal_tensorflows(kernel_size, stride, height, width, padding):
    rng = np.random.default_rng(kernel_size * 100 + stride * 10 + height)
    x = tf.constant(rng.normal(size=(2, height, width, 3)), tf.float32)
    kernel = tf.constant(rng.normal(size=(kernel_size, kernel_size, 3, 5)), tf.float32)
    probe = tf.constant(rng.normal(size=tf.nn.conv2d(x, kernel, stride, padding).shape), tf.float32)
    results = []
    for convolve in (tf.nn.conv2d, fast_conv.conv2d):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = convolve(x, kernel, stride, padding)
            loss = tf.reduce_sum(y * probe)
        results.append([y] + tape.gradient(loss, [x, kernel]))
    for name, expected, actual in zip(("output", "d/dx", "d/dkernel"), *results):
        assert_close(expected, actual, what=name)


@pytest.mark.parametrize("kernel_size, stride, height, width, padding", CASES)
def test_conv2d_transpose_values_and_gradients_equal_tensorflows(kernel_size, stride, height, width,
                                                                  padding):
    """The transposed convolution back from (height, width), as Keras' Conv2DTranspose calls it."""
    rng = np.random.default_rng(kernel_size * 100 + stride * 10 + width)
    kernel = tf.constant(rng.normal(size=(kernel_size, kernel_size, 4, 6)), tf.float32)
    small_shape = tf.nn.conv2d(tf.zeros((2, height, width, 4)), kernel, stride, padding).shape
    x = tf.constant(rng.normal(size=(*small_shape[:3], 6)), tf.float32)
    probe = tf.constant(rng.normal(size=(2, height, width, 4)), tf.float32)
    results = []
    for transpose in (
        lambda x, k: tf.nn.conv2d_transpose(x, k, (2, height, width, 4), stride, padding),
        lambda x, k: fast_conv.conv2d_transpose(x, k, (height, width), stride, padding),
    ):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = transpose(x, kernel)
            loss = tf.reduce_sum(y * probe)
        results.append([y] + tape.gradient(loss, [x, kernel]))
    for name, expected, actual in zip(("output", "d/dx", "d/dkernel"), *results):
        assert_close(expected, actual, what=name)


def test_second_derivatives_for_the_gradient_penalty():
    """WGAN-GP differentiates the critic's input gradient with respect to its weights."""
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(3, 8, 8, 3)), tf.float32)
    kernel = tf.Variable(rng.normal(size=(5, 5, 3, 4)).astype("float32"))
    results = []
    for convolve in (tf.nn.conv2d, fast_conv.conv2d):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                score = tf.reduce_sum(tf.nn.leaky_relu(convolve(x, kernel, 2, "SAME")) ** 2)
            penalty = tf.reduce_sum(inner.gradient(score, x) ** 2)
        results.append([penalty, outer.gradient(penalty, kernel)])
    for expected, actual in zip(*results):
        assert_close(expected, actual, rtol=1e-4)


def graph_ops(function, *args):
    return {op.type for op in tf.function(function).get_concrete_function(*args).graph.get_operations()}


@pytest.mark.parametrize("form", ["fast", "keras"])
def test_the_slow_op_is_gone_in_the_fast_form(form):
    """In the fast form no layer runs Conv2DBackpropInput, narrow or wide, strided or not;
    Keras' own form keeps it (models.ops.conv_forms chooses between them per layer)."""
    def input_gradient(layer, shape):
        def run(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x)
            return tape.gradient(y, x)
        return graph_ops(run, tf.TensorSpec(shape, tf.float32))

    with conv_forms.forced(form):
        convolutions = [(fast_conv.Conv2D(64, 5, strides=2, padding="same"), (2, 14, 14, 64)),
                        (fast_conv.Conv2D(64, 5, strides=2, padding="same"), (2, 16, 16, 32)),
                        (fast_conv.Conv2D(128, 5, padding="same"), (2, 4, 4, 128)),
                        (fast_conv.Conv2D(1, 3, padding="same"), (2, 8, 8, 3))]
        transposed = [(fast_conv.Conv2DTranspose(64, 5, padding="same"), (2, 28, 28, 64)),
                      (fast_conv.Conv2DTranspose(3, 5, strides=2, padding="same"), (2, 16, 16, 32))]
        ops = [input_gradient(layer, shape) for layer, shape in convolutions]
        ops += [graph_ops(layer, tf.TensorSpec(shape)) for layer, shape in transposed]
    assert all(("Conv2DBackpropInput" in found) == (form == "keras") for found in ops)


@pytest.mark.parametrize("layer_class, plain_class, args", [
    (fast_conv.Conv2D, keras.layers.Conv2D, dict(filters=64, kernel_size=5, strides=2)),
    (fast_conv.Conv2D, keras.layers.Conv2D, dict(filters=32, kernel_size=3, activation="relu")),
    (fast_conv.Conv2DTranspose, keras.layers.Conv2DTranspose, dict(filters=32, kernel_size=5, strides=2)),
    (fast_conv.Conv2DTranspose, keras.layers.Conv2DTranspose, dict(filters=24, kernel_size=4)),
])
def test_layers_equal_keras_layers(layer_class, plain_class, args):
    rng = np.random.default_rng(4)
    shape = (3, 8, 8, 64)
    fast, plain = layer_class(padding="same", **args), plain_class(padding="same", **args)
    fast.build(shape)
    plain.build(shape)
    weights = [rng.normal(scale=0.1, size=w.shape).astype("float32") for w in plain.get_weights()]
    fast.set_weights(weights)
    plain.set_weights(weights)
    assert type(fast).__name__ == type(plain).__name__
    assert [w.path.split("/")[-1] for w in fast.weights] == [w.path.split("/")[-1] for w in plain.weights]
    x = tf.constant(rng.normal(size=shape), tf.float32)
    results = []
    for layer in (plain, fast):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        results.append([y] + tape.gradient(loss, [x] + layer.trainable_weights))
    for expected, actual in zip(*results):
        assert_close(expected, actual, rtol=1e-4)


def test_layers_refuse_what_they_cannot_compute():
    for bad in (dict(dilation_rate=2), dict(data_format="channels_first"), dict(strides=(1, 2))):
        with pytest.raises(ValueError, match="keras.layers.Conv2D"):
            fast_conv.Conv2D(4, 3, padding="same", **bad)
    with pytest.raises(ValueError, match="output_padding"):
        fast_conv.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1)
    assert not fast_conv.supports(strides=(2, 1))
    assert fast_conv.supports(strides=2, padding="valid")


def test_mixed_bfloat16_computes_in_bfloat16():
    layer = fast_conv.Conv2D(64, 5, strides=2, padding="same", dtype="mixed_bfloat16")
    x = tf.random.normal((2, 14, 14, 64))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.cast(y, tf.float32))
    assert y.dtype == tf.bfloat16
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    assert [g.dtype for g in grads] == [tf.float32, tf.float32, tf.float32]


# -- the chapter networks ------------------------------------------------------------------


def chapter_networks(preset, fast):
    # The same automatic layer names both times; no garbage collection (slow on a full heap).
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    m = preset.model
    critic = "discriminator" if "discriminator_conv_filters" in m else "critic"
    generator = networks.build_generator(
        m["z_dim"], m["generator_initial_dense_layer_size"], m["generator_upsample"],
        m["generator_conv_filters"], m["generator_conv_kernel_size"], m["generator_conv_strides"],
        m["generator_batch_norm_momentum"], m["generator_activation"], m["generator_dropout_rate"],
        fast_convolutions=fast)
    adversary = networks.build_discriminator(
        m["input_dim"], m[f"{critic}_conv_filters"], m[f"{critic}_conv_kernel_size"],
        m[f"{critic}_conv_strides"], m[f"{critic}_batch_norm_momentum"], m[f"{critic}_activation"],
        None, "sigmoid", fast_convolutions=fast)
    return generator, adversary


def summary_text(model):
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line), line_length=120)
    return "\n".join(lines)


@pytest.mark.parametrize("preset", [presets.GAN_CAMEL, presets.WGAN_CIFAR_HORSES, presets.WGANGP_CELEB],
                         ids=["camel", "cifar", "celeb"])
def test_chapter_networks_are_the_books_and_compute_the_same(preset):
    plain_nets = chapter_networks(preset, fast=False)
    fast_nets = chapter_networks(preset, fast=True)
    z = tf.constant(np.random.default_rng(5).normal(size=(2, preset.model["z_dim"])), tf.float32)
    for plain, fast in zip(plain_nets, fast_nets):
        assert any(type(layer).__module__ == "models.ops.fast_conv" for layer in fast.layers), fast.name
        assert not any(type(layer).__module__ == "models.ops.fast_conv" for layer in plain.layers)
        assert summary_text(fast) == summary_text(plain)
        assert [(w.path, w.shape) for w in fast.weights] == [(w.path, w.shape) for w in plain.weights]
        fast.set_weights(plain.get_weights())
    images = [g(z, training=True) for g, _ in (plain_nets, fast_nets)]
    assert_close(images[0], images[1], rtol=1e-4, what="generator")
    results = []
    for (generator, adversary), image in zip((plain_nets, fast_nets), [images[0], images[0]]):
        with tf.GradientTape() as tape:
            tape.watch(image)
            score = tf.reduce_sum(adversary(image, training=True))
        results.append([score] + tape.gradient(score, [image] + adversary.trainable_weights))
    for expected, actual in zip(*results):
        assert_close(expected, actual, rtol=1e-4, what="critic")


def test_module_switch_builds_keras_layers(monkeypatch):
    monkeypatch.setattr(networks, "FAST_CONVOLUTIONS", False)
    generator, adversary = chapter_networks(presets.GAN_CAMEL, fast=None)
    assert not any(type(layer).__module__ == "models.ops.fast_conv"
                   for layer in generator.layers + adversary.layers)
    monkeypatch.setattr(networks, "FAST_CONVOLUTIONS", True)
    generator, adversary = chapter_networks(presets.GAN_CAMEL, fast=None)
    assert any(type(layer).__module__ == "models.ops.fast_conv" for layer in adversary.layers)


def test_plain_copies_hold_only_keras_layers_and_the_same_weights():
    generator, adversary = chapter_networks(presets.WGANGP_CELEB, fast=True)
    for network in (generator, adversary):
        copy = fast_conv.with_plain_layers(network)
        assert all(type(layer).__module__.startswith("keras") for layer in copy.layers)
        for a, b in zip(network.get_weights(), copy.get_weights()):
            np.testing.assert_array_equal(a, b)


# -- TensorFlow's CPU memory pool ----------------------------------------------------------


@pytest.mark.parametrize("preset_value, expected", [(None, "true"), ("false", "false")])
def test_importing_the_models_asks_for_pooled_cpu_memory_unless_told_otherwise(preset_value, expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    if preset_value is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = preset_value
    script = "import os, models; print(os.environ['TF_CPU_ALLOCATOR_USE_BFC'])"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                            cwd=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))  # the project
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == expected
