"""Mixed precision: bfloat16/float16 compute, float32 variables, outputs and losses."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.adversarial import resolve_precision
from models.GAN import GAN
from models.WGAN import WGAN
from tiny import critic_params, gan_params


def test_true_means_bfloat16_on_a_cpu_and_a_name_is_taken_as_is():
    assert resolve_precision(False) is None
    expected = "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
    assert resolve_precision(True) == expected
    assert resolve_precision("mixed_float16") == "mixed_float16"


def test_bfloat16_computes_in_bfloat16_but_outputs_and_variables_are_float32():
    gan = GAN(**gan_params(), mixed_precision="mixed_bfloat16")
    conv = gan.generator.get_layer("generator_conv_0")
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    assert gan.discriminator.layers[-1].compute_dtype == "float32"
    assert gan.generator.layers[-1].compute_dtype == "float32"  # the tanh
    noise = np.random.normal(size=(4, gan.z_dim)).astype("float32")
    assert gan.generator(noise).dtype == "float32"
    assert gan.model(noise).dtype == "float32"


def test_float16_uses_loss_scaling_and_trains():
    wgan = WGAN(**critic_params(), mixed_precision="mixed_float16")
    assert isinstance(wgan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(wgan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    x = np.random.uniform(-1, 1, (32, 8, 8, 1)).astype("float32")
    losses = wgan.train_critic(x, 16, 0.01) + [wgan.train_generator(16)]
    assert np.isfinite(losses).all()


@pytest.mark.parametrize("policy", [None, "mixed_bfloat16"])
def test_mixed_precision_learns_the_same_task(policy):
    """The discriminator separates real from fake just as well in bfloat16 as in float32."""
    keras.utils.set_random_seed(3)
    gan = GAN(**gan_params(discriminator_learning_rate=0.01), mixed_precision=policy)
    real = np.full((64, 8, 8, 1), 0.9, dtype="float32")
    for _ in range(30):
        d = gan.train_discriminator(real, 32)
    assert d[4] == 1.0 and d[5] == 1.0
    assert all(np.isfinite(d)) and all(isinstance(v, float) for v in d)
