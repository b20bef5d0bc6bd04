"""The GAN hacks (models/recipe/hacks.py): each changes the targets or the images as documented, and
nothing at all when off; they are kept with the run and reachable from the commands."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.GAN import GAN
from models.WGAN import WGAN
from models.WGANGP import WGANGP
from models.recipe.hacks import Hacks
from tiny import critic_params, gan_params, images
from utils.commands import cli
from utils.loaders import load_model


def test_off_means_the_books_targets_and_images():
    hacks = Hacks()
    assert not hacks.active
    np.testing.assert_array_equal(hacks.targets(1.0, 5).numpy(), np.ones((5, 1)))
    np.testing.assert_array_equal(hacks.targets(0.0, 5).numpy(), np.zeros((5, 1)))
    x = tf.random.normal((3, 4, 4, 1))
    assert hacks.noisy(x) is x


def test_one_sided_smoothing_moves_only_the_real_targets():
    hacks = Hacks(label_smoothing=0.1)
    np.testing.assert_allclose(hacks.targets(1.0, 4).numpy(), np.full((4, 1), 0.9))
    np.testing.assert_array_equal(hacks.targets(0.0, 4).numpy(), np.zeros((4, 1)))


def test_flipping_swaps_about_the_asked_share_then_smoothing_applies():
    tf.random.set_seed(0)
    targets = Hacks(label_flip=0.2).targets(1.0, 20000).numpy()
    assert set(np.unique(targets)) == {0.0, 1.0}
    assert abs((targets == 0).mean() - 0.2) < 0.015
    both = Hacks(label_flip=0.2, label_smoothing=0.1).targets(0.0, 20000).numpy()
    np.testing.assert_allclose(np.unique(both), [0.0, 0.9])  # flipped fakes are "real", smoothed
    assert abs((both > 0).mean() - 0.2) < 0.015


def test_instance_noise_has_the_asked_spread():
    tf.random.set_seed(1)
    x = tf.zeros((200, 8, 8, 1))
    noisy = Hacks(instance_noise=0.3).noisy(x).numpy()
    assert abs(noisy.std() - 0.3) < 0.01 and abs(noisy.mean()) < 0.01


@pytest.mark.parametrize("bad", [dict(label_smoothing=0.6), dict(label_smoothing=-0.1),
                                 dict(label_flip=0.5), dict(instance_noise=-1.0)])
def test_impossible_values_are_refused_by_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        GAN(**gan_params(), **bad)


@pytest.mark.parametrize("model_class", [WGAN, WGANGP])
def test_a_wasserstein_critic_has_no_labels_to_smooth(model_class):
    params = critic_params()
    if model_class is WGANGP:
        params.update(grad_weight=10, batch_size=8)
    with pytest.raises(ValueError, match="instance_noise"):
        model_class(**params, label_smoothing=0.1)
    assert model_class(**params, instance_noise=0.1).hacks.instance_noise == 0.1


def _real_loss(gan, batch):
    """The discriminator's BCE on ``batch`` against targets 1 and against 0.8, before any update."""
    predictions = gan.discriminator(batch, training=True)
    bce = lambda target: float(tf.reduce_mean(keras.losses.binary_crossentropy(  # noqa: E731
        tf.fill((len(batch), 1), target), predictions)))
    return bce(1.0), bce(0.8)


def test_the_discriminator_is_trained_against_the_smoothed_targets():
    batch = images(16)
    for smoothing, which in ((0.0, 0), (0.2, 1)):
        keras.utils.set_random_seed(2)
        gan = GAN(**gan_params(), label_smoothing=smoothing)
        expected = _real_loss(gan, batch)[which]
        step = gan.critic_step(batch)
        d_loss_real = float(step[1])
        assert d_loss_real == pytest.approx(expected, rel=1e-5), smoothing
        # The accuracy is still against the true labels (a 0.8 target is never "equal" to 1).
        assert 0.0 <= float(step[4]) <= 1.0


def test_instance_noise_reaches_the_discriminator_in_the_generators_update_too():
    z = tf.random.normal((6, 6))
    quiet = GAN(**gan_params())
    assert np.array_equal(quiet.model(z, training=True).numpy(), quiet.model(z, training=True).numpy())
    noisy = GAN(**gan_params(), instance_noise=0.5)
    assert not np.array_equal(noisy.model(z, training=True).numpy(), noisy.model(z, training=True).numpy())
    # Never when sampling or scoring.
    assert np.array_equal(noisy.model(z, training=False).numpy(), noisy.model(z, training=False).numpy())


def test_instance_noise_changes_what_the_critic_is_trained_on():
    batch = images(16)
    losses = []
    for noise in (0.0, 0.0, 0.5):
        keras.utils.set_random_seed(3)
        gan = GAN(**gan_params(), instance_noise=noise)
        keras.utils.set_random_seed(4)
        losses.append(float(gan.critic_step(batch)[1]))
    assert losses[0] == losses[1] != losses[2]


def test_hacks_are_kept_with_the_run_and_in_the_keras_config(tmp_path):
    gan = GAN(**gan_params(), label_smoothing=0.1, label_flip=0.05, instance_noise=0.2)
    gan.save(tmp_path)  # as the notebooks do before training
    gan.train(images(32), batch_size=8, epochs=2, run_folder=tmp_path, print_every_n_batches=1)
    record = json.loads((tmp_path / "run.json").read_text())
    from models.recipe.options import Recipe

    assert record["options"] == dict(label_smoothing=0.1, label_flip=0.05, instance_noise=0.2,
                                     **Recipe().as_dict(), loss="gan")
    assert load_model(GAN, tmp_path).hacks == gan.hacks
    assert GAN.from_config(gan.get_config()).hacks == gan.hacks
    # A run saved before the options were recorded loads with them off.
    (tmp_path / "run.json").write_text(json.dumps({"model_class": "GAN"}))
    assert not load_model(GAN, tmp_path).hacks.active


def test_the_commands_expose_them(run_dir):
    cli.main_gan(["--data", "silhouettes", "--epochs", "1", "--batch-size", "8", "--print-every", "1",
                  "--label-smoothing", "0.1", "--instance-noise", "0.05", "--no-quality"])
    record = json.loads((run_dir / "gan" / "0001_silhouettes-horse" / "run.json").read_text())
    assert record["options"]["label_smoothing"] == 0.1 and record["options"]["instance_noise"] == 0.05
    with pytest.raises(SystemExit, match="label_flip"):
        cli.main_gan(["--data", "silhouettes", "--epochs", "1", "--batch-size", "8", "--run-id", "x",
                      "--label-flip", "0.7", "--no-quality"])
    wgan_help = cli.build_parser("04_02").format_help()
    assert "--instance-noise" in wgan_help and "--label-smoothing" not in wgan_help
