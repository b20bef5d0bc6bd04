"""The exact upsample-conv (models/ops/subpixel.py): the book's UpSampling2D + Conv2D, to float tolerance.

Same outputs and gradients as the plain pair, same layers, names, summaries and
weight files in the chapter generators, and it still works saved, under mixed
precision, XLA and tf.distribute.
"""

import functools
import re

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

import tiny
from models import networks
from models.ops import subpixel
from utils import presets

assert_close = functools.partial(tiny.assert_close, rtol=1e-5)  # these layers agree closer


def generator_args(preset):
    m = preset.model
    return [m["z_dim"]] + [m[f"generator_{name}"] for name in (
        "initial_dense_layer_size", "upsample", "conv_filters", "conv_kernel_size",
        "conv_strides", "batch_norm_momentum", "activation", "dropout_rate")]


def build_pair(kernel_size, cin, cout, size, activation=None, seed=0, dtype=None):
    """UpSampling2D + plain Conv2D and UpSampling2D + subpixel.Conv2D with the same random weights."""
    rng = np.random.default_rng(seed)
    shape = (None, 2 * size[0], 2 * size[1], cin)
    args = dict(filters=cout, kernel_size=kernel_size, padding="same", activation=activation, dtype=dtype)
    plain, exact = keras.layers.Conv2D(**args), subpixel.Conv2D(**args)
    plain.build(shape)
    exact.build(shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in plain.get_weights()]
    plain.set_weights(weights)
    exact.set_weights(weights)
    return plain, exact


def value_and_grads(conv, x, probe):
    """The pair's output and the gradients of a random linear loss w.r.t. the image
    *before* upsampling, the kernel and the bias."""
    upsample = keras.layers.UpSampling2D()
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = conv(upsample(x))
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * probe)
    grads = tape.gradient(loss, [x, conv.kernel, conv.bias])
    return [y.numpy()] + [g.numpy() for g in grads]


# -- the layer alone -----------------------------------------------------------------------


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
@pytest.mark.parametrize("cin, cout, size", [
    (1, 1, (5, 5)),     # odd size, single channels
    (3, 8, (4, 6)),     # even, non-square
    (16, 3, (7, 3)),    # odd, non-square, more inputs than outputs
])
def test_outputs_and_gradients_equal_the_plain_pair(kernel_size, cin, cout, size):
    plain, exact = build_pair(kernel_size, cin, cout, size, seed=kernel_size)
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(3, *size, cin)), tf.float32)
    probe = tf.constant(rng.normal(size=(3, 2 * size[0], 2 * size[1], cout)), tf.float32)
    expected = value_and_grads(plain, x, probe)
    actual = value_and_grads(exact, x, probe)
    for name, e, a in zip(["output", "d/dinput", "d/dkernel", "d/dbias"], expected, actual):
        assert_close(e, a, what=name)


def test_non_square_kernel_and_activation():
    plain, exact = build_pair((3, 7), 4, 5, (6, 5), activation="relu")
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(2, 6, 5, 4)), tf.float32)
    probe = tf.constant(rng.normal(size=(2, 12, 10, 5)), tf.float32)
    for e, a in zip(value_and_grads(plain, x, probe), value_and_grads(exact, x, probe)):
        assert_close(e, a)


def test_phase_selection_follows_the_floor_rule():
    # K = 5: p = 2, h = 1.  Phase 0 reads offsets floor((u - 2) / 2) = -1, -1, 0, 0, 1;
    # phase 1 reads floor((u - 1) / 2) = -1, 0, 0, 1, 1.
    a = subpixel.phase_selection(5)
    assert a.shape == (2, 3, 5)
    assert [int(np.argmax(a[0, :, u])) - 1 for u in range(5)] == [-1, -1, 0, 0, 1]
    assert [int(np.argmax(a[1, :, u])) - 1 for u in range(5)] == [-1, 0, 0, 1, 1]
    assert np.all(a.sum(axis=1) == 1)  # every tap lands on exactly one offset
    assert subpixel.phase_selection(3).shape == (2, 3, 3)
    assert subpixel.phase_selection(7).shape == (2, 5, 7)
    with pytest.raises(ValueError):
        subpixel.phase_selection(4)


def test_phase_kernel_channels_are_in_depth_to_space_order():
    """Channel (a·2 + b)·Cout + co of the phase kernel is phase (a, b) of filter co, and
    depth_to_space puts that channel at pixel (2i + a, 2j + b): the DCR order."""
    k, cin, cout = 5, 2, 3
    _, exact = build_pair(k, cin, cout, (4, 4))
    w = exact.kernel.numpy()
    combined = exact.phase_kernel(tf.constant(w)).numpy()
    p, h = 2, 1
    expected = np.zeros((3, 3, cin, 4 * cout), np.float32)
    for a in range(2):
        for b in range(2):
            for u in range(k):
                for v in range(k):
                    s, t = (a + u - p) // 2 + h, (b + v - p) // 2 + h
                    expected[s, t, :, (a * 2 + b) * cout:(a * 2 + b + 1) * cout] += w[u, v]
    np.testing.assert_allclose(combined, expected, rtol=1e-6, atol=1e-6)

    # depth_to_space's own order: channel (a·2 + b)·C + c goes to (2i + a, 2j + b), channel c.
    c = 3
    values = np.arange(4 * c, dtype=np.float32).reshape(1, 1, 1, 4 * c)
    spread = tf.nn.depth_to_space(values, 2).numpy()
    for a in range(2):
        for b in range(2):
            np.testing.assert_array_equal(spread[0, a, b], values[0, 0, 0, (a * 2 + b) * c:(a * 2 + b + 1) * c])


def test_each_phase_lands_on_its_own_pixel():
    """One input pixel, a kernel with a single tap: only the output pixels that tap reaches light up."""
    k, cout = 3, 2
    _, exact = build_pair(k, 1, cout, (3, 3))
    kernel = np.zeros((k, k, 1, cout), np.float32)
    kernel[0, 2, 0, 1] = 1.0  # tap (u, v) = (0, 2) of filter 1: reads pixel (y - 1, x + 1) upsampled
    exact.set_weights([kernel, np.zeros(cout, np.float32)])
    x = np.zeros((1, 3, 3, 1), np.float32)
    x[0, 1, 1, 0] = 1.0  # lights up the upsampled pixels (2..3, 2..3)
    y = exact(keras.layers.UpSampling2D()(x)).numpy()
    expected = np.zeros((1, 6, 6, cout), np.float32)
    expected[0, 3:5, 1:3, 1] = 1.0  # output (Y, X) reads upsampled (Y - 1, X + 1)
    np.testing.assert_array_equal(y, expected)


def test_take_even_pixels_and_its_gradient_equal_the_strided_slice():
    x = tf.random.normal((2, 6, 10, 3))
    dy = tf.random.normal((2, 3, 5, 3))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        fast, slow = subpixel.take_even_pixels(x), x[:, ::2, ::2, :]
    np.testing.assert_array_equal(fast.numpy(), slow.numpy())
    np.testing.assert_array_equal(tape.gradient(fast, x, output_gradients=dy).numpy(),
                                  tape.gradient(slow, x, output_gradients=dy).numpy())
    assert fast.shape == (2, 3, 5, 3)


def test_unknown_spatial_size_under_tf_function():
    plain, exact = build_pair(5, 3, 4, (5, 7))
    x = tf.random.normal((2, 5, 7, 3))
    spec = tf.TensorSpec((None, None, None, 3), tf.float32)
    run = tf.function(lambda t: exact(keras.layers.UpSampling2D()(t)), input_signature=[spec])
    assert_close(plain(keras.layers.UpSampling2D()(x)), run(x))


def test_xla_compiled_step_matches():
    plain, exact = build_pair(5, 6, 4, (5, 6))
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(2, 5, 6, 6)), tf.float32)
    probe = tf.constant(rng.normal(size=(2, 10, 12, 4)), tf.float32)
    expected = value_and_grads(plain, x, probe)
    actual = tf.function(lambda: value_and_grads_tf(exact, x, probe), jit_compile=True)()
    for e, a in zip(expected, actual):
        assert_close(e, a.numpy())


def value_and_grads_tf(conv, x, probe):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = conv(keras.layers.UpSampling2D()(x))
        loss = tf.reduce_sum(y * probe)
    return [y] + tape.gradient(loss, [x, conv.kernel, conv.bias])


def mixed_value_and_grads(conv, x, probe, policy):
    upsample = keras.layers.UpSampling2D(dtype=policy)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = conv(upsample(x))
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * probe)
    return [y] + tape.gradient(loss, [x, conv.kernel, conv.bias])


@pytest.mark.parametrize("policy, tolerance", [("mixed_bfloat16", 3e-2), ("mixed_float16", 1e-2)])
def test_mixed_precision_computes_in_the_compute_dtype(policy, tolerance):
    plain, _ = build_pair(5, 8, 4, (5, 5))
    plain_mixed, mixed = build_pair(5, 8, 4, (5, 5), dtype=policy)
    compute = keras.DTypePolicy(policy).compute_dtype
    assert mixed.compute_dtype == compute
    assert [w.dtype for w in mixed.weights] == ["float32", "float32"]
    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(size=(2, 5, 5, 8)), tf.float32)
    probe = tf.constant(rng.normal(size=(2, 10, 10, 4)), tf.float32)
    actual = mixed_value_and_grads(mixed, x, probe, policy)
    assert actual[0].dtype == compute
    assert [g.dtype for g in actual[2:]] == [tf.float32, tf.float32]
    names = ["output", "d/dinput", "d/dkernel", "d/dbias"]
    # Close to float32, and the output to the plain Conv2D's under the same policy.  (The
    # gradients are not compared with the plain layer's: its bias gradient, a bfloat16 sum,
    # is itself further from float32 than this tolerance.)
    for name, e, a in zip(names, value_and_grads(plain, x, probe), actual):
        assert_close(e, tf.cast(a, tf.float32), rtol=tolerance, what=name)
    plain_output = mixed_value_and_grads(plain_mixed, x, probe, policy)[0]
    assert_close(tf.cast(plain_output, tf.float32), tf.cast(actual[0], tf.float32), rtol=tolerance)


def test_the_graph_computes_in_bfloat16():
    """The convolution itself runs in bfloat16, not float32 cast at the end."""
    _, mixed = build_pair(5, 4, 4, (3, 3), dtype="mixed_bfloat16")
    run = tf.function(lambda t: mixed(t))
    graph = run.get_concrete_function(tf.TensorSpec((1, 6, 6, 4), tf.bfloat16)).graph
    convs = [op for op in graph.get_operations() if op.type == "Conv2D"]
    assert convs and all(op.get_attr("T") == tf.bfloat16 for op in convs)


def test_refuses_configurations_where_it_is_not_exact():
    for bad in (dict(strides=2), dict(padding="valid"), dict(dilation_rate=2), dict(kernel_size=4),
                dict(groups=2), dict(data_format="channels_first")):
        args = {**dict(filters=4, kernel_size=3, padding="same"), **bad}
        assert not subpixel.is_exact_after_upsampling(args)
        with pytest.raises(ValueError):
            subpixel.Conv2D(**args)
    good = dict(filters=4, kernel_size=5, padding="same")
    assert subpixel.is_exact_after_upsampling(good)
    assert not subpixel.is_exact_after_upsampling(good, upsampling_size=(3, 3))
    assert not subpixel.is_exact_after_upsampling(good, interpolation="bilinear")
    with pytest.raises(ValueError, match="even"):
        subpixel.Conv2D(**good).build((None, 7, 8, 3))


# -- the chapter generators ----------------------------------------------------------------


def summary_text(model):
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line), line_length=120)
    return "\n".join(lines)


def build_generator(preset, exact):
    # The same automatic layer names both times; no garbage collection (slow on a full heap).
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    return networks.build_generator(*generator_args(preset), exact_upsample_conv=exact)


def h5_paths(path):
    paths = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: paths.append((name, getattr(obj, "shape", None))))
    return sorted(paths)


@pytest.mark.parametrize("preset", [presets.GAN_CAMEL, presets.WGAN_CIFAR_HORSES], ids=["camel", "cifar"])
def test_chapter_generator_is_the_books_both_ways(preset, tmp_path):
    plain = build_generator(preset, exact=False)
    plain_summary = summary_text(plain)
    exact = build_generator(preset, exact=True)

    n_upsampled = sum(1 for u in preset.model["generator_upsample"] if u == 2)
    fast = [layer for layer in exact.layers if isinstance(layer, subpixel.Conv2D)]
    assert len(fast) == n_upsampled > 0
    assert not any(isinstance(layer, subpixel.Conv2D) for layer in plain.layers)

    assert [l.name for l in exact.layers] == [l.name for l in plain.layers]
    assert [type(l).__name__ for l in exact.layers] == [type(l).__name__ for l in plain.layers]
    assert exact.count_params() == plain.count_params()
    assert [l.count_params() for l in exact.layers] == [l.count_params() for l in plain.layers]
    assert [(w.path, w.shape) for w in exact.weights] == [(w.path, w.shape) for w in plain.weights]
    assert summary_text(exact) == plain_summary
    assert re.search(r"generator_conv_0 \(Conv2D\)", plain_summary)

    # Weight files: the same layout, and either network reads the other's.
    plain_file, exact_file = tmp_path / "plain.weights.h5", tmp_path / "exact.weights.h5"
    plain.save_weights(plain_file)
    exact.save_weights(exact_file)
    assert h5_paths(plain_file) == h5_paths(exact_file)
    exact.load_weights(plain_file)
    for a, b in zip(plain.get_weights(), exact.get_weights()):
        np.testing.assert_array_equal(a, b)

    z = np.random.default_rng(5).normal(size=(4, preset.model["z_dim"])).astype("float32")
    for training in (False, True):
        assert_close(plain(z, training=training), exact(z, training=training))

    # And back: weights trained in the exact network load into the book's.
    rng = np.random.default_rng(6)
    exact.set_weights([w + rng.normal(scale=0.01, size=w.shape).astype("float32")
                       for w in exact.get_weights()])
    exact.save_weights(exact_file)
    plain.load_weights(exact_file)
    assert_close(exact(z, training=False), plain(z, training=False))


def test_module_switch_builds_plain_layers(monkeypatch):
    monkeypatch.setattr(networks, "EXACT_UPSAMPLE_CONV", False)
    generator = networks.build_generator(*generator_args(presets.GAN_CAMEL))
    assert not any(isinstance(layer, subpixel.Conv2D) for layer in generator.layers)
    monkeypatch.setattr(networks, "EXACT_UPSAMPLE_CONV", True)
    generator = networks.build_generator(*generator_args(presets.GAN_CAMEL))
    assert any(isinstance(layer, subpixel.Conv2D) for layer in generator.layers)


def test_keras_archive_round_trip(tmp_path):
    generator = build_generator(presets.GAN_CAMEL, exact=True)
    path = tmp_path / "generator.keras"
    generator.save(path)
    loaded = keras.saving.load_model(path)
    kinds = [type(layer) for layer in loaded.layers]
    assert kinds == [type(layer) for layer in generator.layers]
    assert subpixel.Conv2D in kinds
    z = np.random.default_rng(7).normal(size=(3, 100)).astype("float32")
    np.testing.assert_allclose(loaded(z, training=False), generator(z, training=False), rtol=0, atol=1e-6)
    assert summary_text(loaded) == summary_text(generator)


def test_training_updates_the_books_kernel_like_the_plain_layer():
    """One optimizer step on each network moves the (K, K, Cin, Cout) kernels alike."""
    generators = [build_generator(presets.GAN_CAMEL, exact=flag) for flag in (False, True)]
    generators[1].set_weights(generators[0].get_weights())
    z = tf.constant(np.random.default_rng(8).normal(size=(4, 100)), tf.float32)
    for generator in generators:
        optimizer = keras.optimizers.SGD(0.1)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(generator(z, training=True) - 0.5))
        optimizer.apply_gradients(zip(tape.gradient(loss, generator.trainable_weights),
                                      generator.trainable_weights))
    before = build_generator(presets.GAN_CAMEL, exact=False).get_layer("generator_conv_1").kernel.numpy()
    plain_kernel, exact_kernel = (g.get_layer("generator_conv_1").kernel.numpy() for g in generators)
    assert exact_kernel.shape == (5, 5, 128, 64)
    assert not np.allclose(exact_kernel, before)
    assert_close(plain_kernel - before, exact_kernel - before, rtol=1e-4)


def test_generator_under_mirrored_strategy_and_xla():
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        generator = networks.build_generator(*generator_args(presets.GAN_CAMEL))
        optimizer = keras.optimizers.SGD(0.01)
    assert any(isinstance(layer, subpixel.Conv2D) for layer in generator.layers)
    plain = build_generator(presets.GAN_CAMEL, exact=False)
    plain.set_weights(generator.get_weights())
    z = tf.constant(np.random.default_rng(9).normal(size=(2 * len(devices), 100)), tf.float32)

    def step(z):
        with tf.GradientTape() as tape:
            images = generator(z, training=False)
            loss = tf.reduce_mean(tf.square(images))
        grads = tape.gradient(loss, generator.trainable_weights)
        optimizer.apply_gradients(zip(grads, generator.trainable_weights))
        return images

    images = strategy.run(tf.function(step), args=(z,))
    images = tf.concat(strategy.experimental_local_results(images), axis=0)
    assert_close(plain(z, training=False), images)
    compiled = tf.function(lambda z: generator(z, training=False), jit_compile=True)
    assert_close(generator(z, training=False), compiled(z))


def test_saved_generator_archives_load_without_this_project(tmp_path):
    """save_model writes generator.keras with Keras' own Conv2D: a fresh process loads it
    with keras.models.load_model alone, and draws the same images."""
    import subprocess
    import sys

    from models.GAN import GAN
    from utils import presets

    gan = GAN(**presets.GAN_CAMEL.model)
    assert any(type(layer).__module__ == "models.ops.subpixel" for layer in gan.generator.layers)
    gan.save_model(tmp_path)
    noise = np.random.default_rng(0).normal(size=(4, 100)).astype("float32")
    np.save(tmp_path / "noise.npy", noise)
    expected = gan.generator(noise, training=False).numpy()
    script = (
        "import sys, keras, numpy as np\n"
        "model = keras.models.load_model(sys.argv[1] + '/generator.keras')\n"
        "assert all(type(layer).__module__.startswith('keras') for layer in model.layers)\n"
        "np.save(sys.argv[1] + '/images.npy', model(np.load(sys.argv[1] + '/noise.npy'), training=False).numpy())\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "images.npy"), expected, atol=1e-5)
