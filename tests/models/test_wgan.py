"""WGAN on Keras 3: linear critic, Wasserstein loss and labels, in-step clipping, frozen critic."""

import keras
import numpy as np
import pytest

from models.objectives.wasserstein import wasserstein
from models.WGAN import WGAN
from tiny import changed, critic_params, images, snapshot
from utils import presets


@pytest.fixture
def wgan():
    keras.utils.set_random_seed(2)
    return WGAN(**critic_params())


def all_critic_weights(wgan):
    return np.concatenate([w.ravel() for w in snapshot(wgan.critic)])


def test_cifar_preset_builds_a_linear_critic():
    wgan = WGAN(**presets.WGAN_CIFAR_HORSES.model)
    assert wgan.critic.layers[-1].activation.__name__ == "linear"
    assert wgan.critic.output_shape == (None, 1)
    assert wgan.generator.output_shape == (None, 32, 32, 3)
    assert wgan.critic.name == "critic" and not hasattr(wgan, "discriminator")
    assert WGAN.param_names()[1] == "critic_conv_filters" and len(WGAN.param_names()) == 19


def test_wasserstein_loss_is_minus_mean_label_times_score():
    y = np.array([[1.0], [-1.0], [1.0]], "float32")
    p = np.array([[0.5], [2.0], [-1.0]], "float32")
    assert float(wasserstein(y, p)) == pytest.approx(-np.mean(y * p))


def test_every_critic_weight_is_clipped_after_every_update(wgan):
    assert np.abs(all_critic_weights(wgan)).max() > 0.01  # N(0, 0.02) starts outside the box
    for _ in range(3):
        wgan.train_critic(images(), 16, 0.01)
        weights = all_critic_weights(wgan)
        assert np.abs(weights).max() <= 0.01 + 1e-9
        assert np.isclose(np.abs(weights), 0.01).any()  # some weights sit on the bound


def test_train_clips_with_its_own_threshold(wgan, tmp_path):
    wgan.train(images(), 16, 2, tmp_path, print_every_n_batches=1, n_critic=2, clip_threshold=0.005)
    assert np.abs(all_critic_weights(wgan)).max() <= 0.005 + 1e-9


def test_critic_update_leaves_the_generator_alone(wgan):
    g_before, c_before = snapshot(wgan.generator), snapshot(wgan.critic)
    wgan.train_critic(images(), 16, 0.01)
    assert not any(changed(g_before, snapshot(wgan.generator)))
    assert all(changed(c_before, snapshot(wgan.critic)))


def test_generator_update_leaves_the_critic_alone(wgan):
    c_before, g_before = snapshot(wgan.critic), snapshot(wgan.generator)
    wgan.train_generator(16)
    wgan.model.train_on_batch(np.random.normal(size=(16, wgan.z_dim)), np.ones((16, 1)))
    assert not any(changed(c_before, snapshot(wgan.critic)))
    assert any(changed(g_before, snapshot(wgan.generator)))
    assert [id(w) for w in wgan.model.trainable_weights] == [id(w) for w in wgan.generator.trainable_weights]


def test_labels_real_plus_one_fake_minus_one(wgan):
    """d_loss_real = -mean(f(real)) before the update; the critic learns to score real above fake."""
    real = np.full((16, 8, 8, 1), 0.7, "float32")
    expected_real = -float(np.mean(wgan.critic(real)))
    d_loss, d_real, d_fake = wgan.train_critic(real, 16, 1.0)
    assert d_real == pytest.approx(expected_real, rel=1e-4, abs=1e-6)
    assert d_loss == pytest.approx(0.5 * (d_real + d_fake), rel=1e-5, abs=1e-7)
    noise = np.random.normal(size=(16, wgan.z_dim)).astype("float32")
    for _ in range(20):
        wgan.train_critic(real, 16, 1.0)
    fake = wgan.generator(noise, training=False)
    assert float(np.mean(wgan.critic(real))) > float(np.mean(wgan.critic(fake)))


def test_n_critic_updates_per_generator_update(wgan, tmp_path):
    d0, g0 = int(wgan.d_optimizer.iterations), int(wgan.g_optimizer.iterations)
    wgan.train(images(), 16, 2, tmp_path, print_every_n_batches=5, n_critic=3)
    # Each critic step is two updates (real batch, fake batch), as in the book.
    assert int(wgan.d_optimizer.iterations) - d0 == 2 * 3 * 2
    assert int(wgan.g_optimizer.iterations) - g0 == 2
    assert all(isinstance(g, float) for g in wgan.g_losses) and len(wgan.d_losses[0]) == 3
