"""Tiny versions of the chapter models: same code paths, milliseconds per step on a CPU."""

import keras
import numpy as np


def gan_params(**overrides):
    params = dict(
        input_dim=(8, 8, 1),
        discriminator_conv_filters=[4, 8],
        discriminator_conv_kernel_size=[3, 3],
        discriminator_conv_strides=[2, 2],
        discriminator_batch_norm_momentum=None,
        discriminator_activation="relu",
        discriminator_dropout_rate=None,
        discriminator_learning_rate=0.001,
        generator_initial_dense_layer_size=(2, 2, 8),
        generator_upsample=[2, 2],
        generator_conv_filters=[8, 1],
        generator_conv_kernel_size=[3, 3],
        generator_conv_strides=[1, 1],
        generator_batch_norm_momentum=0.9,
        generator_activation="relu",
        generator_dropout_rate=None,
        generator_learning_rate=0.001,
        optimiser="adam",
        z_dim=6,
    )
    params.update(overrides)
    return params


def critic_params(**overrides):
    """WGAN's arguments: the GAN's with discriminator_* renamed critic_*."""
    params = {
        key.replace("discriminator_", "critic_"): value
        for key, value in gan_params(discriminator_activation="leaky_relu").items()
    }
    params.update(overrides)
    return params


def wgangp_params(**overrides):
    """WGAN-GP's arguments: the tiny critic's, Adam, grad_weight 10, batch 16."""
    params = {k: v for k, v in critic_params().items() if k not in ("optimiser", "z_dim")}
    params.update(optimiser="adam", grad_weight=10, z_dim=6, batch_size=16)
    params.update(overrides)
    return params


def assert_close(expected, actual, rtol=2e-5, what=""):
    """Within ``rtol`` of the expected tensor's scale (its largest magnitude)."""
    expected, actual = np.asarray(expected, np.float32), np.asarray(actual, np.float32)
    assert expected.shape == actual.shape, what
    scale = max(float(np.max(np.abs(expected))), 1e-12)
    err = float(np.max(np.abs(expected - actual)))
    assert err <= rtol * scale, f"{what}: max error {err:.3g} at scale {scale:.3g}"


def camel_preset(batch_size):
    """The camel chapter preset with the tiny networks, at the camel's 28×28 images."""
    from dataclasses import replace

    from utils import presets

    return replace(presets.GAN_CAMEL, batch_size=batch_size, model=gan_params(
        input_dim=(28, 28, 1), generator_initial_dense_layer_size=(7, 7, 8)))


def tiny_preset(preset, batch_size=None):
    """A chapter preset with tiny networks of the same kind (adversary, image size, activations,
    batch norm, optimiser, learning rates and options kept): two small convolutions each side;
    ``batch_size`` None keeps the preset's."""
    from dataclasses import replace

    model = dict(preset.model)
    adversary = "critic" if "critic_learning_rate" in model else "discriminator"
    height, width, channels = model["input_dim"]
    model.update({f"{adversary}_conv_filters": [4, 8], f"{adversary}_conv_kernel_size": [3, 3],
                  f"{adversary}_conv_strides": [2, 2], "generator_initial_dense_layer_size": (height // 4, width // 4, 8),
                  "generator_upsample": [2, 2], "generator_conv_filters": [8, channels],
                  "generator_conv_kernel_size": [3, 3], "generator_conv_strides": [1, 1], "z_dim": 6})
    return replace(preset, batch_size=batch_size or preset.batch_size, model=model)


def tiny_chapter(chapter, batch_size=None):
    """A chapter of the registry (``utils.chapters``) whose presets have tiny networks."""
    from dataclasses import replace

    return replace(chapter, preset=tiny_preset(chapter.preset, batch_size),
                   other_presets={data: tiny_preset(preset, batch_size) for data, preset in chapter.other_presets.items()})


def is_tiny(model):
    """Whether a model was built from a ``tiny_preset``."""
    return list(model.generator_conv_filters) == [8, model.input_dim[-1]]


def use_tiny_chapters(monkeypatch=None, batch_size=None):
    """Make every chapter of the registry train tiny networks (for the duration of a test when
    ``monkeypatch`` is given, else for the process)."""
    from utils import chapters

    for table in (chapters.CHAPTERS, chapters.CONTROLLABLE):
        for key, chapter in list(table.items()):
            if monkeypatch is None:
                table[key] = tiny_chapter(chapter, batch_size)
            else:
                monkeypatch.setitem(table, key, tiny_chapter(chapter, batch_size))


def use_tiny_camel(monkeypatch, batch_size):
    """Make the registry's 04_01 chapter train the tiny camel preset."""
    from dataclasses import replace

    from utils import chapters

    monkeypatch.setitem(chapters.CHAPTERS, "04_01",
                        replace(chapters.CHAPTERS["04_01"], preset=camel_preset(batch_size)))


def images(n=32, size=8, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, size, size, channels)).astype("float32")


def snapshot(network):
    """Every weight (trainable or not) of a network, copied."""
    return [keras.ops.convert_to_numpy(w).copy() for w in network.weights]


def changed(before, after):
    return [not np.array_equal(a, b) for a, b in zip(before, after)]
