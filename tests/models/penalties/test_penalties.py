"""Penalties as parts (models/penalties) and the one adversary update that composes them.

R2 and the user's own penalty on all five models: off, the update is the one it was; on, it
changes it.  The book's two updates are checked against the book's own ``train_on_batch`` calls.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.CGAN import CGAN
from models.GAN import GAN
from models.InfoGAN import InfoGAN
from models.WGAN import WGAN
from models.WGANGP import WGANGP
from models.core.updates import Side
from models.penalties.r2 import R2
from tiny import critic_params, gan_params, images, snapshot, wgangp_params


MODELS = {
    "GAN": lambda **options: GAN(**gan_params(), **options),
    "WGAN": lambda **options: WGAN(**critic_params(), **options),
    "WGANGP": lambda **options: WGANGP(**wgangp_params(batch_size=8), **options),
    "CGAN": lambda **options: CGAN(**gan_params(), num_classes=3, **options),
    "InfoGAN": lambda **options: InfoGAN(**gan_params(), categorical_dim=3, continuous_dim=1, **options),
}


def fake_score_penalty(adversary, real, fake):
    """A user's penalty: the mean squared score of the fakes (module level, so it has a name)."""
    return keras.ops.mean(keras.ops.square(adversary(fake, training=True)))


def updated_adversary(name, **options):
    """The adversary's weights after one update from the same start, batch and seed."""
    keras.utils.set_random_seed(3)
    model = MODELS[name](**options)
    keras.utils.set_random_seed(4)
    conditions = tf.constant([0, 1, 2, 0, 1, 2, 0, 1], tf.int32) if name == "CGAN" else None
    losses = model.update_adversary(tf.constant(images(8)), conditions).numpy()
    return snapshot(model.adversary), losses


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("off, on", [
    (dict(r2_weight=0.0), dict(r2_weight=1.0)),
    (dict(penalty=None), dict(penalty=fake_score_penalty)),
])
def test_a_penalty_off_leaves_the_update_and_on_changes_it(name, off, on):
    if name == "WGANGP" and "r2_weight" in on:
        with pytest.raises(ValueError, match="already penalises the critic's gradient"):
            MODELS[name](**on)
        return
    today, today_losses = updated_adversary(name)
    unpenalised, losses = updated_adversary(name, **off)
    penalised, _ = updated_adversary(name, **on)
    assert same(today, unpenalised) and np.array_equal(today_losses, losses)
    assert not same(today, penalised)


def test_the_book_gans_update_is_its_two_train_on_batch_calls(monkeypatch):
    """The GAN's and WGAN's update, step by step, as the book wrote it: the adversary's
    ``train_on_batch`` on the real batch, then on the fakes (then the WGAN's clipping)."""
    for make, real_label, fake_label in ((MODELS["GAN"], 1.0, 0.0), (MODELS["WGAN"], 1.0, -1.0)):
        keras.utils.set_random_seed(3)
        ours, book = make(), make()
        book.set_weights(ours.get_weights())
        # Adam's first step is lr·g/(|g| + ε), lr·sign(g) with Keras' ε: a weight whose gradient
        # is round-off (a bias before batch norm) would move ±lr by chance on either side.  With
        # ε = 1e-3 such a weight moves less than lr·1e-4, while a real gradient still moves lr.
        for model in (ours, book):
            model.d_optimizer.epsilon = 1e-3
        latent = tf.random.normal((8, 6))
        monkeypatch.setattr(ours, "latent_batch", lambda n, latent=latent: latent)
        real = images(8)
        ours.update_adversary(tf.constant(real))
        fake = book.generator.predict(latent, verbose=0)
        book.adversary.train_on_batch(real, np.full((8, 1), real_label))
        book.adversary.train_on_batch(fake, np.full((8, 1), fake_label))
        if isinstance(book, WGAN):
            for variable in book.adversary.trainable_variables:
                variable.assign(keras.ops.clip(variable, -book.clip_threshold, book.clip_threshold))
        # Within 1% of a step (lr = 1e-3): a gradient that nearly cancels keeps round-off of a few
        # per cent, which the order of the sums (threads, another CPU) sets; a wrong update (a
        # label swapped, a step missing) moves weights by 1e-4 and more.
        for a, b in zip(snapshot(ours.adversary), snapshot(book.adversary)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_r2_is_the_mean_squared_input_gradient_of_the_logit_on_the_fakes():
    gan = GAN(**gan_params(), r2_weight=2.0)
    r2 = gan.penalties[0]
    assert isinstance(r2, R2) and r2.weight == 1.0  # γ/2
    x = tf.constant(images(8))
    scored = gan.score({"fake": Side(x)}, ("fake",), [r2])
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = gan.objective.logits(gan.adversary(x, training=True))
    gradient = tape.gradient(logits, x).numpy()
    assert float(r2.value(scored)) == pytest.approx(float(np.mean(np.sum(gradient ** 2, axis=(1, 2, 3)))), rel=1e-4)
    # It joins the book's second step, the fakes', and is not reported.
    assert [r2.joins(sides) for sides in gan.adversary_steps()] == [False, True]
    assert gan.d_loss_names == GAN(**gan_params()).d_loss_names


def test_the_users_penalty_sees_what_the_adversary_was_shown_and_makes_one_step():
    shown = []

    def penalty(adversary, real, fake):
        shown.append((real, fake))
        return keras.ops.convert_to_tensor(0.0)

    gan = CGAN(**gan_params(), num_classes=3, penalty=penalty, matching_aware=True)
    assert gan.adversary_steps() == (("real", "fake"),)
    before = int(gan.d_optimizer.iterations)
    gan.update_adversary(tf.constant(images(6)), tf.constant([0, 1, 2, 0, 1, 2], tf.int32))
    assert int(gan.d_optimizer.iterations) == before + 1
    (real, fake), = shown
    assert real[0].shape[0] == 6 and fake[0].shape[0] == 12  # the fakes, then the mismatched pairs
    np.testing.assert_array_equal(np.asarray(real[1]), [0, 1, 2, 0, 1, 2])


def test_a_penalty_must_be_a_function_returning_one_number():
    with pytest.raises(ValueError, match="penalty=3"):
        GAN(**gan_params(), penalty=3)
    gan = GAN(**gan_params(), penalty=lambda adversary, real, fake: adversary(fake, training=True))
    with pytest.raises(ValueError, match="must return one number"):
        gan.update_adversary(tf.constant(images(4)))


def test_a_named_penalty_is_kept_with_the_run_and_comes_back(tmp_path):
    from utils.loaders import load_model

    gan = GAN(**gan_params(), penalty=fake_score_penalty)
    assert gan.model_options()["penalty"] == "test_penalties:fake_score_penalty"
    gan.save(tmp_path / "run")
    gan.train(images(), 8, 2, tmp_path / "run", print_every_n_batches=1)
    loaded = load_model(GAN, tmp_path / "run")
    assert loaded.recipe.penalty == "test_penalties:fake_score_penalty"
    assert loaded.penalties[0].function is fake_score_penalty


# -- the relativistic pairing loss ------------------------------------------------------------


def test_the_relativistic_losses_are_softplus_of_the_paired_differences():
    from models.objectives import objective_for

    relativistic = objective_for("relativistic")
    real, fake = tf.constant([[2.0], [0.0]]), tf.constant([[1.0], [3.0]])
    d = relativistic.adversary_losses(real=Side(None, scores=real), fake=Side(None, scores=fake))
    expected_d = np.mean(np.log1p(np.exp([1.0 - 2.0, 3.0 - 0.0])))
    assert sum(float(v) for v in d.values()) == pytest.approx(expected_d, rel=1e-6)
    g = relativistic.generator_losses(None, fake, real)["g_loss"]
    assert float(g) == pytest.approx(np.mean(np.log1p(np.exp([2.0 - 1.0, 0.0 - 3.0]))), rel=1e-6)
    assert relativistic.paired and relativistic.output_activation is None


@pytest.mark.parametrize("name", ["GAN", "CGAN"])
def test_a_relativistic_model_updates_its_adversary_in_one_step_and_trains(name, tmp_path):
    keras.utils.set_random_seed(0)
    model = MODELS[name](loss="relativistic", r1_weight=0.1, r2_weight=0.1)
    assert model.adversary_steps() == (("real", "fake"),)
    assert (model.d_loss_names, model.g_loss_names) == (("d_loss",), ("g_loss",))
    x, y = images(32), np.arange(32) % 3
    before = int(model.d_optimizer.iterations)
    history = (model.fit(x, y, batch_size=8, epochs=1, verbose=0) if name == "CGAN"
               else model.fit(x, batch_size=8, epochs=1, verbose=0))
    assert int(model.d_optimizer.iterations) - before == 4  # one step per batch, not two
    assert np.isfinite(history.history["d_loss"]).all() and np.isfinite(history.history["g_loss"]).all()


def test_the_relativistic_generator_update_reads_a_real_batch():
    keras.utils.set_random_seed(0)
    gan = MODELS["GAN"](loss="relativistic")
    latent = tf.random.normal((8, 6))
    with pytest.raises(ValueError, match="against a real batch"):
        gan.train_generator(8)
    start = gan.get_weights()
    low = float(gan.update_generator(latent, real=tf.constant(images(8)) - 1.0)[0])
    gan.set_weights(start)
    high = float(gan.update_generator(latent, real=tf.constant(images(8)) + 1.0)[0])
    assert low != high  # the real batch's scores enter the generator's loss


def test_gdl_gan_trains_relativistic_with_r1_and_r2_and_resumes_them(run_dir, monkeypatch, capsys):
    from tiny import use_tiny_camel
    from utils.commands import cli

    use_tiny_camel(monkeypatch, batch_size=8)
    assert "--r2" in cli.build_parser("04_01").format_help()
    model = cli.run("04_01", ["--data", "silhouettes", "--loss", "relativistic", "--r1", "0.1", "--r2", "0.2",
                              "--epochs", "2", "--print-every", "2", "--no-quality", "--no-tensorboard"])
    assert model.objective.name == "relativistic"
    assert [(type(p).__name__, p.gamma) for p in model.penalties] == [("R1", 0.1), ("R2", 0.2)]
    capsys.readouterr()
    resumed = cli.run("04_01", ["--data", "silhouettes", "--epochs", "2", "--print-every", "2", "--no-quality",
                                "--no-tensorboard", "--resume"])
    assert resumed.objective.name == "relativistic" and resumed.recipe.r2_weight == 0.2 and resumed.epoch == 4
