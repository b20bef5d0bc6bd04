"""The book's GAN on Keras 3: architecture, a really frozen discriminator, labels, the loop."""

import json
import os

import keras
import numpy as np
import pytest

from models.GAN import GAN
from tiny import changed, gan_params, images, snapshot
from utils import presets


@pytest.fixture
def gan():
    keras.utils.set_random_seed(1)
    return GAN(**gan_params())


# -- architecture -------------------------------------------------------------------


def test_camel_preset_builds_the_books_architecture():
    gan = GAN(**presets.GAN_CAMEL.model)
    d_kinds = [type(layer).__name__ for layer in gan.discriminator.layers[1:]]
    assert d_kinds == ["Conv2D", "Activation", "Dropout"] * 4 + ["Flatten", "Dense"]
    assert gan.discriminator.layers[-1].activation.__name__ == "sigmoid"
    assert gan.discriminator.output_shape == (None, 1)
    g_kinds = [type(layer).__name__ for layer in gan.generator.layers[1:]]
    assert g_kinds == (
        ["Dense", "BatchNormalization", "Activation", "Reshape"]
        + ["UpSampling2D", "Conv2D", "BatchNormalization", "Activation"] * 2
        + ["Conv2DTranspose", "BatchNormalization", "Activation"]
        + ["Conv2DTranspose", "Activation"]
    )
    assert gan.generator.output_shape == (None, 28, 28, 1)
    assert gan.generator.layers[-1].activation.__name__ == "tanh"
    assert [l.strides for l in gan.discriminator.layers if "conv" in l.name] == [(2, 2)] * 3 + [(1, 1)]
    assert gan.discriminator.get_layer("discriminator_conv_0").filters == 64
    # N(0, 0.02) initialisation: the widest kernel has thousands of samples.
    kernel = keras.ops.convert_to_numpy(gan.generator.get_layer("generator_conv_1").kernel)
    assert abs(kernel.mean()) < 0.002 and 0.018 < kernel.std() < 0.022
    assert isinstance(gan.d_optimizer, keras.optimizers.RMSprop)
    assert gan.z_dim == 100 and tuple(gan.input_dim) == (28, 28, 1)


def test_batch_norm_skips_first_discriminator_layer_and_leaky_relu_is_0_2():
    gan = GAN(**gan_params(discriminator_batch_norm_momentum=0.8, discriminator_activation="leaky_relu"))
    kinds = [type(layer).__name__ for layer in gan.discriminator.layers[1:]]
    assert kinds[:5] == ["Conv2D", "LeakyReLU", "Conv2D", "BatchNormalization", "LeakyReLU"]
    leaky = gan.discriminator.layers[2]
    assert leaky.negative_slope == pytest.approx(0.2)
    assert gan.discriminator.layers[4].momentum == pytest.approx(0.8)


def test_optimiser_names_follow_the_book():
    assert isinstance(GAN(**gan_params(optimiser="adam")).g_optimizer, keras.optimizers.Adam)
    assert float(GAN(**gan_params(optimiser="adam")).g_optimizer.beta_1) == pytest.approx(0.5)
    assert isinstance(GAN(**gan_params(optimiser="rmsprop")).g_optimizer, keras.optimizers.RMSprop)
    assert isinstance(GAN(**gan_params(optimiser="sgd?")).g_optimizer, keras.optimizers.Adam)


def test_constructor_takes_the_19_book_arguments_in_order():
    assert GAN.param_names() == list(gan_params().keys())
    positional = GAN(*gan_params().values())
    assert positional.generator.output_shape == (None, 8, 8, 1)


# -- the frozen discriminator ------------------------------------------------------


def test_combined_model_trains_exactly_the_generator(gan):
    ids = lambda ws: [id(w) for w in ws]
    assert ids(gan.model.trainable_weights) == ids(gan.generator.trainable_weights)
    assert ids(gan.model.trainable_variables) == ids(gan.generator.trainable_variables)
    # The discriminator on its own is still trainable.
    assert len(gan.discriminator.trainable_weights) == 6


def test_generator_step_changes_no_discriminator_weight(gan):
    d_before, g_before = snapshot(gan.discriminator), snapshot(gan.generator)
    for _ in range(3):
        gan.train_generator(16)
    assert not any(changed(d_before, snapshot(gan.discriminator)))
    assert all(changed(g_before, snapshot(gan.generator))[:2])  # the dense kernel and bias moved


def test_models_train_on_batch_changes_no_discriminator_weight(gan):
    """The book calls gan.model.train_on_batch directly; on Keras 3 that must stay frozen too."""
    d_before, g_before = snapshot(gan.discriminator), snapshot(gan.generator)
    noise = np.random.normal(size=(16, gan.z_dim))
    for _ in range(3):
        loss, acc = gan.model.train_on_batch(noise, np.ones((16, 1)))
    assert not any(changed(d_before, snapshot(gan.discriminator)))
    assert any(changed(g_before, snapshot(gan.generator)))
    assert 0.0 <= acc <= 1.0 and loss > 0


def test_discriminator_batch_norm_statistics_stay_frozen_in_generator_steps():
    gan = GAN(**gan_params(discriminator_batch_norm_momentum=0.5))
    d_before = snapshot(gan.discriminator)
    gan.train_generator(16)
    gan.model.train_on_batch(np.random.normal(size=(16, gan.z_dim)), np.ones((16, 1)))
    assert not any(changed(d_before, snapshot(gan.discriminator)))
    gan.train_discriminator(images(), 16)
    moved = changed(d_before, snapshot(gan.discriminator))
    names = [w.path for w in gan.discriminator.weights]
    assert any(m for m, n in zip(moved, names) if "moving_mean" in n), "D step must update its BN stats"


def test_discriminator_step_changes_discriminator_not_generator(gan):
    d_before, g_before = snapshot(gan.discriminator), snapshot(gan.generator)
    gan.train_discriminator(images(), 16)
    assert not any(changed(g_before, snapshot(gan.generator)))
    assert all(changed(d_before, snapshot(gan.discriminator)))


# -- labels and loss layouts ------------------------------------------------------------


def test_loss_layouts_follow_the_book(gan):
    d = gan.train_discriminator(images(), 16)
    g = gan.train_generator(16)
    assert len(d) == 6 and len(g) == 2
    d_loss, d_real, d_fake, d_acc, acc_real, acc_fake = d
    assert d_loss == pytest.approx(0.5 * (d_real + d_fake), rel=1e-5)
    assert d_acc == pytest.approx(0.5 * (acc_real + acc_fake), rel=1e-5)
    assert all(0.0 <= a <= 1.0 for a in (d_acc, acc_real, acc_fake, g[1]))
    assert all(isinstance(v, float) for v in d + g)


def test_labels_real_is_one_fake_is_zero():
    """Train D alone: real images must drift to 1 and the generator's to 0; then G pushes D(G(z)) up."""
    keras.utils.set_random_seed(3)
    gan = GAN(**gan_params(discriminator_learning_rate=0.01))
    real = np.full((64, 8, 8, 1), 0.9, dtype="float32")
    noise = np.random.normal(size=(64, gan.z_dim)).astype("float32")
    for _ in range(30):
        d = gan.train_discriminator(real, 32)
    assert d[4] == 1.0 and d[5] == 1.0  # accuracy on real (label 1) and on fake (label 0)
    assert float(np.mean(gan.discriminator(real))) > 0.9
    fooled_before = float(np.mean(gan.model(noise)))
    assert fooled_before < 0.5  # classified as fake
    for _ in range(30):
        gan.train_generator(32)
    assert float(np.mean(gan.model(noise))) > fooled_before


def test_bce_losses_match_a_closed_form(gan):
    """With a constant real batch and no dropout the returned real loss is -mean(log D(x)) before the update."""
    real = np.full((16, 8, 8, 1), 0.5, dtype="float32")
    expected = -np.log(np.clip(np.array(gan.discriminator(real)), 1e-7, 1)).mean()
    d = gan.train_discriminator(real, 16)
    assert d[1] == pytest.approx(expected, rel=1e-4)


# -- the training loop and the run folder -----------------------------------------------


def test_train_records_losses_and_continues_across_calls(gan, tmp_path):
    x = images()
    gan.train(x, 16, 4, tmp_path, print_every_n_batches=2)
    assert gan.epoch == 4 and len(gan.d_losses) == 4 and len(gan.g_losses) == 4
    gan.train(x, 16, 3, tmp_path, print_every_n_batches=2)
    assert gan.epoch == 7 and len(gan.d_losses) == 7
    assert all(len(d) == 6 for d in gan.d_losses) and all(len(g) == 2 for g in gan.g_losses)
    # Grids at the book's epochs (0, 2, 4, 6) plus the final one.
    names = sorted(os.listdir(tmp_path / "images"))
    assert names == ["sample_0.png", "sample_2.png", "sample_4.png", "sample_6.png", "sample_7.png"]
    assert (tmp_path / "weights" / "weights.weights.h5").exists()
    assert (tmp_path / "losses.png").stat().st_size > 1000
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["epoch"] == 7 and len(history["d_losses"]) == 7
    assert history["d_loss_names"][0] == "d_loss"


def test_sample_grids_come_from_one_fixed_noise_batch(gan, tmp_path):
    from PIL import Image

    first = np.array(Image.open(gan.sample_images(tmp_path)))
    again = np.array(Image.open(gan.sample_images(tmp_path)))
    assert np.array_equal(first, again)
    gan.train(images(), 16, 2, tmp_path, print_every_n_batches=100)
    later = np.array(Image.open(gan.sample_images(tmp_path)))
    assert not np.array_equal(first, later)
    assert first.shape[0] >= 320  # small images are enlarged to be legible


def test_train_accepts_a_stream_of_batches(gan, tmp_path):
    def batches():
        while True:
            yield images(16), np.zeros(16)

    gan.train(batches(), 16, 2, tmp_path, print_every_n_batches=1, using_generator=True)
    assert gan.epoch == 2


def test_an_array_passed_as_a_stream_and_a_stream_as_an_array_are_refused(gan, tmp_path):
    with pytest.raises(ValueError, match="using_generator=True"):
        gan.train(iter([images()]), 16, 1, tmp_path)


def test_batch_size_larger_than_the_data_still_samples(gan):
    d = gan.train_discriminator(images(4), 16)
    assert np.isfinite(d).all()
