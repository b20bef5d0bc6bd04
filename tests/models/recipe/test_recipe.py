"""The modern recipe's parts (models/recipe): each does what it says, and nothing changes when off."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.CGAN import CGAN
from models.GAN import GAN
from models.core.updates import Side
from models.objectives.minimax import Minimax
from models.recipe import augment
from models.recipe.average import GeneratorAverage
from models.recipe.options import Recipe
from models.WGANGP import WGANGP
from tiny import gan_params, images, snapshot, wgangp_params
from utils import presets
from utils.commands import cli
from utils.loaders import load_model


# -- off is the book's recipe -------------------------------------------------------------------


def test_with_every_part_off_training_is_the_books(tmp_path):
    def trained(**options):
        keras.utils.set_random_seed(3)
        gan = GAN(**gan_params(), **options)
        gan.fit(images(32), batch_size=8, epochs=2, verbose=0)
        return gan

    book = trained()
    off = trained(**Recipe().as_dict())
    assert off.augmentation is None and off.generator_average is None
    assert not any(isinstance(layer, keras.layers.SpectralNormalization) for layer in off.adversary.layers)
    assert len(off.weights) == len(book.weights)
    for a, b in zip(snapshot(book), snapshot(off)):
        np.testing.assert_array_equal(a, b)
    assert book.sampling_generator is book.generator


# -- augmentation ---------------------------------------------------------------------------------


def test_translation_moves_the_image_and_fills_with_zeros():
    x = np.zeros((64, 16, 16, 1), "float32")
    x[:, 8, 8, 0] = 1.0
    moved = augment.translate(tf.constant(x), 1.0).numpy()
    assert np.allclose(moved.sum(axis=(1, 2, 3)), 1.0)  # the pixel stays inside (reach 2 of 16)
    rows, cols = np.nonzero(moved[..., 0])[1:]
    assert np.abs(rows - 8).max() <= 2 and np.abs(cols - 8).max() <= 2
    assert (np.abs(rows - 8) + np.abs(cols - 8)).max() > 0  # some did move
    np.testing.assert_array_equal(augment.translate(tf.constant(x), 0.0).numpy(), x)


def test_cutout_zeroes_at_most_a_square_of_half_the_size():
    x = np.ones((64, 16, 16, 1), "float32")
    cut = augment.cutout(tf.constant(x), 1.0).numpy()
    holes = (cut == 0).sum(axis=(1, 2, 3))
    assert holes.max() == 64 and holes.min() > 0  # 8 × 8, fewer where it falls off the edge
    np.testing.assert_array_equal(augment.cutout(tf.constant(x), 0.0).numpy(), x)


def test_color_changes_colour_images_and_is_refused_for_grey_ones():
    x = tf.constant(images(16, channels=3))
    assert not np.allclose(augment.color(x, 1.0).numpy(), x.numpy())
    np.testing.assert_allclose(augment.color(x, 0.0).numpy(), x.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="'color' needs colour images.*1 channel"):
        GAN(**gan_params(), augment="translation,color")


@pytest.mark.parametrize("policy", augment.POLICIES)
def test_every_policy_is_differentiable(policy):
    x = tf.constant(images(8, channels=3))
    weights = tf.constant(np.random.default_rng(0).normal(size=x.shape).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(augment.OPERATIONS[policy](x, 1.0) * weights)
    gradient = tape.gradient(y, x).numpy()
    assert np.isfinite(gradient).all() and np.abs(gradient).sum() > 0


@pytest.mark.parametrize("make, views_per_step", [
    (lambda: GAN(**gan_params(), augment="cutout"), 3),          # real, fake, the generator's
    (lambda: WGANGP(**wgangp_params(), augment="cutout"), 3),    # real and fake together, the generator's
    (lambda: CGAN(**gan_params(), num_classes=3, augment="cutout"), 3),
])
def test_augmentation_reaches_every_image_the_adversary_sees_in_both_updates(make, views_per_step, monkeypatch):
    seen = []
    cutout = augment.cutout
    monkeypatch.setitem(augment.OPERATIONS, "cutout", lambda x, p, **kw: seen.append(x.shape) or cutout(x, p, **kw))
    model = make()
    model.run_eagerly = True
    x = images(16)
    if isinstance(model, CGAN):
        model.fit(x, np.arange(16) % 3, batch_size=8, epochs=1, steps_per_epoch=1, verbose=0)
    else:
        model.fit(x, batch_size=8, epochs=1, steps_per_epoch=1, verbose=0)
    assert len(seen) == views_per_step


def test_the_adaptive_probability_follows_the_real_images_scores():
    layer = augment.Augmentation("translation", probability=0.5, target=0.6, adjust_images=100)
    layer.observe_real(tf.fill((10, 1), 0.9), threshold=0.5)  # all scored real: overfitting
    assert float(layer.probability) == pytest.approx(0.6)
    for _ in range(3):
        layer.observe_real(tf.fill((10, 1), 0.1), threshold=0.5)
    assert float(layer.probability) == pytest.approx(0.3)
    for _ in range(20):
        layer.observe_real(tf.fill((10, 1), -1.0), threshold=0.0)
    assert float(layer.probability) == 0.0  # clipped
    fixed = augment.Augmentation("translation", probability=0.5)
    fixed.observe_real(tf.fill((10, 1), 0.9), threshold=0.5)
    assert float(fixed.probability) == 0.5


def test_the_adjustment_speed_reaches_the_model_and_is_refused_without_a_target():
    gan = GAN(**gan_params(), augment="translation", augment_probability=0.5, augment_target=0.6,
              augment_adjust_images=80)
    assert gan.augmentation.adjust_images == 80
    gan.augmentation.observe_real(tf.fill((8, 1), 0.9), threshold=0.5)  # a batch of 8 moves p by 8 / 80
    assert float(gan.augmentation.probability) == pytest.approx(0.6)
    assert GAN(**gan_params(), augment="translation", augment_target=0.6).augmentation.adjust_images == 20_000
    with pytest.raises(ValueError, match="augment_adjust_images=80 .* set augment_target too"):
        GAN(**gan_params(), augment="translation", augment_adjust_images=80)
    with pytest.raises(ValueError, match="augment_adjust_images must be a whole number"):
        GAN(**gan_params(), augment="translation", augment_target=0.6, augment_adjust_images=0)


def test_the_gradient_penalty_update_adapts_the_probability_too():
    wgangp = WGANGP(**wgangp_params(), augment="translation", augment_probability=0.5, augment_target=0.6)
    wgangp.fit(images(16), batch_size=8, epochs=1, steps_per_epoch=1, verbose=0)
    assert float(wgangp.augmentation.probability) != 0.5


def test_the_adaptive_probability_is_saved_and_resumed(tmp_path):
    gan = GAN(**gan_params(), augment="translation,cutout", augment_probability=0.0, augment_target=0.01)
    gan.save(tmp_path)
    gan.train(images(32), 8, 4, tmp_path, print_every_n_batches=2)
    assert float(gan.augmentation.probability) > 0
    loaded = load_model(GAN, tmp_path)
    assert float(loaded.augmentation.probability) == float(gan.augmentation.probability)


# -- the generator's average ------------------------------------------------------------------


def test_the_average_is_the_warmed_up_exponential_average_and_copies_statistics():
    generator = GAN(**gan_params()).generator
    average = GeneratorAverage(generator, decay=0.9)
    start = [w.copy() for w in generator.get_weights()]
    expected = [w.copy() for w in generator.get_weights()]
    rng = np.random.default_rng(0)
    trainable = {id(v) for v in generator.trainable_weights}
    for t in range(3):
        new = [w + rng.normal(size=w.shape).astype("float32") for w in start]
        generator.set_weights(new)
        average.update(generator)
        decay = min(0.9, (1 + t) / (10 + t))
        expected = [decay * e + (1 - decay) * n if id(v) in trainable else n
                    for e, n, v in zip(expected, new, generator.weights)]
    for got, want in zip(average.network.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert float(average.updates) == 3


def test_the_average_draws_the_samples_and_is_saved_and_resumed_with_the_generator(tmp_path):
    keras.utils.set_random_seed(0)
    gan = GAN(**gan_params(), ema=0.9)
    gan.save(tmp_path)
    gan.train(images(32), 8, 4, tmp_path, print_every_n_batches=2)
    z = np.random.default_rng(1).normal(size=(5, 6)).astype("float32")
    averaged = gan.generator_average.network(z).numpy()
    assert not np.allclose(averaged, gan.generator(z).numpy())
    np.testing.assert_allclose(gan.predict(z, verbose=0), averaged, atol=1e-6)
    np.testing.assert_allclose(gan.sampler(z), averaged, atol=1e-6)
    np.testing.assert_allclose(gan.sample_batch()[0], gan.generator_average.network(gan.fixed_noise).numpy(),
                               atol=1e-6)
    gan.save_model(tmp_path)
    saved = keras.models.load_model(tmp_path / "generator.keras")
    np.testing.assert_allclose(saved(z).numpy(), averaged, atol=1e-5)
    loaded = load_model(GAN, tmp_path)
    for a, b in zip(snapshot(loaded), snapshot(gan)):  # both generators, the count, the optimizers' state
        np.testing.assert_array_equal(a, b)
    assert float(loaded.generator_average.updates) == 4


def test_the_book_generator_update_moves_the_average_too():
    gan = GAN(**gan_params(), ema=0.5)
    before = snapshot(gan.generator_average.network)
    gan.train_generator(8)
    assert float(gan.generator_average.updates) == 1
    assert any(not np.array_equal(a, b) for a, b in zip(before, snapshot(gan.generator_average.network)))


# -- spectral normalisation ------------------------------------------------------------------------


def largest_singular_values(network):
    values = []
    for layer in network.layers:
        if isinstance(layer, keras.layers.SpectralNormalization):
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            values.append(np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0])
    return values


def test_spectral_norm_bounds_every_layer_of_the_adversary():
    keras.utils.set_random_seed(0)
    gan = GAN(**gan_params(discriminator_learning_rate=0.01), spectral_norm=True)
    x = images(32)
    assert len(largest_singular_values(gan.adversary)) == 3  # two convs and the output
    gan.fit(x, batch_size=8, epochs=10, verbose=0)
    gan.adversary(x, training=True)  # normalised on every training call
    np.testing.assert_allclose(largest_singular_values(gan.adversary), 1.0, atol=0.05)
    plain = GAN(**gan_params(discriminator_learning_rate=0.01))
    plain.fit(x, batch_size=8, epochs=10, verbose=0)
    kernels = [w.numpy() for w in plain.adversary.trainable_weights if len(w.shape) > 1]
    plain_values = [np.linalg.svd(k.reshape(-1, k.shape[-1]), compute_uv=False)[0] for k in kernels]
    assert not np.allclose(plain_values, 1.0, atol=0.05)  # without it, nothing holds them at 1


def test_a_spectrally_normalised_discriminator_stays_frozen_in_the_generators_update():
    gan = GAN(**gan_params(), spectral_norm=True)
    gan.adversary(images(8), training=True)
    adversary, generator = snapshot(gan.adversary), snapshot(gan.generator)
    gan.train_generator(8)
    assert all(np.array_equal(a, b) for a, b in zip(adversary, snapshot(gan.adversary)))
    assert any(not np.array_equal(a, b) for a, b in zip(generator, snapshot(gan.generator)))


# -- R1 ----------------------------------------------------------------------------------------------


def test_r1_is_the_mean_squared_input_gradient_of_the_logit():
    gan = GAN(**gan_params(), loss="hinge", r1_weight=1.0)
    x = tf.constant(images(8))
    r1 = gan.penalties[0]
    scored = gan.score({"real": Side(x)}, ("real",), [r1])
    penalty = r1.value(scored)
    with tf.GradientTape() as tape:
        tape.watch(x)
        expected_scores = gan.adversary(x, training=True)
    gradient = tape.gradient(expected_scores, x).numpy()
    assert float(penalty) == pytest.approx(float(np.mean(np.sum(gradient ** 2, axis=(1, 2, 3)))), rel=1e-4)
    logits = np.array([[-5.0], [0.0], [3.0]], "float32")
    np.testing.assert_allclose(Minimax().logits(tf.sigmoid(logits)).numpy(), logits, atol=1e-4)


def test_r1_moves_only_the_real_update_and_is_not_in_the_reported_loss():
    penalised = GAN(**gan_params(), r1_weight=10.0)
    plain = GAN(**gan_params())
    penalised.set_weights(plain.get_weights())
    x = tf.constant(images(8))
    keras.utils.set_random_seed(1)
    losses_a = plain.update_adversary(x).numpy()
    keras.utils.set_random_seed(1)
    losses_b = penalised.update_adversary(x).numpy()
    assert losses_a[1] == pytest.approx(losses_b[1])  # d_loss_real: the objective's term alone
    assert any(not np.allclose(a, b) for a, b in zip(snapshot(plain.adversary), snapshot(penalised.adversary)))
    # R1 reads the real batch only: it joins the book's first step, not the fake one.
    assert penalised.adversary_steps() == (("real",), ("fake",))
    assert [penalised.penalties[0].joins(sides) for sides in penalised.adversary_steps()] == [True, False]
    with pytest.raises(ValueError, match="already penalises the critic's gradient"):
        WGANGP(**wgangp_params(), r1_weight=1.0)


# -- the options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    (dict(emma=0.9), "unexpected keyword argument.*'emma'.*ema, ema_rampup, augment"),
    (dict(ema=1.0), r"ema must be a number in \[0.0, 1.0\)"),
    (dict(augment="flip"), "augment='flip': expected a comma-separated choice of translation, cutout, color"),
    (dict(augment_probability=1.5), "augment_probability"),
    (dict(r1_weight=-1), "r1_weight"),
    (dict(spectral_norm="yes"), "spectral_norm must be True or False"),
    (dict(adam_betas=(0.5,)), "adam_betas must be two numbers"),
    (dict(adam_betas=(0.0, 1.0)), "adam_betas must be two numbers"),
])
def test_bad_recipe_options_are_named(options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        GAN(**gan_params(), **options)


def test_the_recipe_is_kept_with_the_run_and_in_the_keras_config(tmp_path):
    options = dict(ema=0.99, augment="translation", augment_probability=0.5, augment_target=0.6,
                   spectral_norm=True, r1_weight=2.0, adam_betas=(0.0, 0.99))
    gan = GAN(**gan_params(), **options)
    gan.save(tmp_path)
    gan.train(images(16), 8, 1, tmp_path)
    record = json.loads((tmp_path / "run.json").read_text())
    assert {key: record["options"][key] for key in options} == {**options, "adam_betas": [0.0, 0.99]}
    assert load_model(GAN, tmp_path).recipe == gan.recipe == GAN.from_config(gan.get_config()).recipe


@pytest.mark.parametrize("chapter, preset", [("04_01", presets.GAN_CAMEL), ("cgan", presets.CGAN_SILHOUETTES)])
def test_a_chapters_modern_preset_is_one_call(chapter, preset):
    book, modern = presets.get(chapter), presets.get(chapter, recipe="modern")
    assert book is preset and book.with_recipe("book") is book and book.modern
    for key, value in book.modern.items():
        where = modern.model if key in book.model else modern.model_options
        assert (modern.epochs if key == "epochs" else where[key]) == value
    with pytest.raises(ValueError, match="recipe='new'"):
        presets.get("04_01", recipe="new")


def test_the_command_takes_the_recipe_and_explicit_parts_win(run_dir, monkeypatch):
    from dataclasses import replace

    from tiny import camel_preset
    from utils import chapters

    preset = replace(camel_preset(8), modern=dict(ema=0.9, augment="cutout", loss="hinge",
                                                  discriminator_learning_rate=0.005, epochs=2))
    monkeypatch.setitem(chapters.CHAPTERS, "04_01", replace(chapters.CHAPTERS["04_01"], preset=preset))
    model = cli.run("04_01", ["--data", "silhouettes", "--recipe", "modern", "--r1", "0.5", "--ema", "0.8",
                          "--no-quality", "--no-tensorboard"])
    assert model.epoch == 2 and model.objective.name == "hinge"
    assert model.recipe == Recipe(ema=0.8, augment="cutout", r1_weight=0.5)
    folder = run_dir / "gan" / "0001_silhouettes-horse"
    assert json.loads((folder / "params.json").read_text())["discriminator_learning_rate"] == 0.005
    resumed = cli.run("04_01", ["--data", "silhouettes", "--epochs", "1", "--resume", "--no-quality",
                            "--no-tensorboard"])
    assert resumed.recipe == model.recipe and resumed.epoch == 3
    book = cli.run("04_01", ["--data", "silhouettes", "--run-id", "book", "--epochs", "1", "--no-quality",
                         "--no-tensorboard", "--g-learning-rate", "0.003"])
    assert book.recipe == Recipe() and book.objective.name == "gan"
    assert float(book.g_optimizer.learning_rate) == pytest.approx(0.003)


def test_gdl_cgan_trains_the_modern_recipe_with_its_matching_aware_adversary(run_dir):
    model = cli.run("cgan", ["--data", "silhouettes", "--recipe", "modern", "--epochs", "2", "--no-quality",
                             "--no-tensorboard"])
    modern = presets.CGAN_SILHOUETTES.modern
    assert model.epoch == 2 and model.objective.name == "relativistic" and model.matching_aware
    assert model.recipe == Recipe(spectral_norm=True, r1_weight=modern["r1_weight"],
                                  r2_weight=modern["r2_weight"], ema=modern["ema"])
    assert model.discriminator_dropout_rate is None
    # The book's learning rates: doubling them left one seed far from the data at step 3000.
    book = presets.CGAN_SILHOUETTES.model
    assert float(model.d_optimizer.learning_rate) == pytest.approx(book["discriminator_learning_rate"])
    assert float(model.g_optimizer.learning_rate) == pytest.approx(book["generator_learning_rate"])
    assert np.isfinite(model.d_losses).all() and np.isfinite(model.g_losses).all()


def test_a_chapter_without_a_measured_modern_recipe_says_so(run_dir):
    with pytest.raises(SystemExit, match="gdl-wgan: --recipe modern: The wgan preset .* has no modern recipe yet"):
        cli.run("04_02", ["--data", "silhouettes", "--recipe", "modern"])
    with pytest.raises(ValueError, match="no modern recipe yet.*--ema"):
        presets.get("04_03", recipe="modern")


@pytest.mark.parametrize("make", [lambda **o: GAN(**gan_params(), **o), lambda **o: WGANGP(**wgangp_params(), **o)])
def test_adam_betas_train_both_networks_with_adam_and_off_is_the_books(make):
    book = make()  # the book's optimiser: RMSprop, or its Adam with beta_1 = 0.5
    for optimizer in (book.d_optimizer, book.g_optimizer):
        if book.optimiser == "adam":
            assert float(optimizer.beta_1) == 0.5 and float(optimizer.beta_2) == 0.999
        else:
            assert type(optimizer).__name__ == "RMSprop"
    modern = make(adam_betas=(0.0, 0.99))
    for optimizer in (modern.d_optimizer, modern.g_optimizer):
        assert type(optimizer).__name__ == "Adam"
        assert (float(optimizer.beta_1), float(optimizer.beta_2)) == (0.0, 0.99)


def test_the_command_sets_adam_dropout_and_updates_per_step(run_dir):
    model = cli.run("04_01", ["--data", "silhouettes", "--epochs", "2", "--adam", "0,0.99", "--d-dropout", "0",
                              "--n-critic", "3", "--no-quality", "--no-tensorboard"])
    assert model.recipe.adam_betas == (0.0, 0.99) and model.discriminator_dropout_rate is None
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.discriminator.layers)
    assert int(model.d_optimizer.iterations) == 2 * 3 * 2  # 3 updates per step, each real then fake
    assert int(model.g_optimizer.iterations) == 2
    with pytest.raises(SystemExit):
        cli.run("04_01", ["--data", "silhouettes", "--adam", "0.9"])
    with pytest.raises(SystemExit, match="--d-dropout is a rate"):
        cli.run("04_01", ["--data", "silhouettes", "--d-dropout", "1.5"])


def test_minibatch_std_appends_the_batchs_spread_before_the_last_conv():
    from models.recipe.minibatch_std import MinibatchStd

    varied = images(8, 8, seed=1)
    out = np.asarray(MinibatchStd()(varied))
    assert out.shape == (8, 8, 8, 2)
    np.testing.assert_allclose(out[..., :1], varied)
    np.testing.assert_allclose(out[..., 1], np.sqrt(varied.var(axis=0) + 1e-8).mean(), rtol=1e-5)
    copies = np.repeat(varied[:1], 8, axis=0)  # a collapsed generator's batch
    assert float(np.asarray(MinibatchStd()(copies))[..., 1].max()) < 1e-3 < float(out[0, 0, 0, 1])

    gan = GAN(**gan_params(), minibatch_std=True)
    names = [layer.name for layer in gan.discriminator.layers]
    last_conv = max(i for i, name in enumerate(names) if "_conv_" in name)
    assert names[last_conv - 1] == "discriminator_minibatch_std"
    assert not any("minibatch_std" in layer.name for layer in GAN(**gan_params()).discriminator.layers)
    # The adversary now sees an image by the batch it comes in: its last conv reads the spread.
    batch = images(8, 8, seed=2)

    def batch_effect(model):  # how much the last conv's output of 4 images moves with their batch
        conv = [layer for layer in model.discriminator.layers if "_conv_" in layer.name][-1]
        last = keras.Model(model.discriminator.inputs, conv.output)
        alone = np.asarray(last(batch[:4]))
        return np.abs(alone - np.asarray(last(np.concatenate([batch[:4], copies[:4]])))[:4]).max()

    keras.utils.set_random_seed(0)
    without = batch_effect(GAN(**gan_params()))
    assert batch_effect(gan) > 100 * without + 1e-6


def test_the_average_ramps_its_half_life_with_the_updates():
    generator = GAN(**gan_params()).generator
    average = GeneratorAverage(generator, decay=0.99, rampup=0.5)
    half_life = np.log(0.5) / np.log(0.99)
    expected = [w.copy() for w in generator.get_weights()]
    trainable = {id(v) for v in generator.trainable_weights}
    rng = np.random.default_rng(1)
    for t in range(4):
        new = [w + rng.normal(size=w.shape).astype("float32") for w in expected]
        generator.set_weights(new)
        average.update(generator)
        decay = 0.5 ** (1 / max(min(half_life, 0.5 * t), 1e-8))  # t = 0: a copy
        expected = [decay * e + (1 - decay) * n if id(v) in trainable else n
                    for e, n, v in zip(expected, new, generator.weights)]
    for got, want in zip(average.network.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="ema_rampup=0.05 ramps the generator's average, which is off"):
        GAN(**gan_params(), ema_rampup=0.05)


def test_the_command_sets_minibatch_std_the_ramp_lecam_and_lazy_r1(run_dir):
    model = cli.run("04_01", ["--data", "silhouettes", "--epochs", "1", "--minibatch-std", "--ema", "0.99",
                              "--ema-rampup", "0.05", "--lecam", "0.01", "--r1", "1", "--r1-every", "4",
                              "--no-quality", "--no-tensorboard"])
    assert model.recipe.minibatch_std and model.recipe.ema_rampup == 0.05 and model.recipe.lecam_weight == 0.01
    assert model.recipe.r1_every == 4 and model.penalties[0].every == 4
    assert model.generator_average.rampup == 0.05


def test_lecam_pulls_each_sides_logits_towards_the_other_sides_running_mean():
    from models.core.updates import Scored
    from models.penalties import LeCam

    objective = Minimax()
    lecam = LeCam(0.5, objective)
    lecam.anchors.real.assign(1.0)
    lecam.anchors.fake.assign(-1.0)
    probabilities = lambda logits: 1 / (1 + np.exp(-np.array(logits, "float32")[:, None]))
    real = Side(None, scores=probabilities([2.0, -3.0]))  # relu(2 - (-1))² = 9, relu(-3 + 1) = 0
    fake = Side(None, scores=probabilities([0.5, -2.0]))  # relu(1 - 0.5)² = 0.25, relu(1 + 2)² = 9
    value = float(lecam.value(Scored(None, {"real": real, "fake": fake})))
    assert value == pytest.approx(9 / 2 + (0.25 + 9) / 2, rel=1e-4)
    lecam.observe({"real": real, "fake": fake})
    assert float(lecam.anchors.real) == pytest.approx(0.99 * 1.0 + 0.01 * -0.5, rel=1e-4)
    assert float(lecam.anchors.fake) == pytest.approx(0.99 * -1.0 + 0.01 * -0.75, rel=1e-4)


def test_lecam_changes_the_update_and_its_anchors_are_saved_and_resumed(tmp_path):
    def trained(**options):
        keras.utils.set_random_seed(0)
        gan = GAN(**gan_params(), **options)
        gan.save(tmp_path / str(len(options)))
        gan.train(images(32), 8, 2, tmp_path / str(len(options)), print_every_n_batches=2)
        return gan

    plain, lecam = trained(), trained(lecam_weight=1.0)
    assert lecam.penalties[-1].name == "lecam_weight"
    anchors = lecam.penalties[-1].anchors
    assert float(anchors.real) != 0.0 and float(anchors.fake) != 0.0 and float(anchors.real) != float(anchors.fake)
    assert any(not np.allclose(a, b) for a, b in zip(snapshot(plain.discriminator), snapshot(lecam.discriminator)))
    resumed = load_model(GAN, tmp_path / "1")
    again = resumed.penalties[-1].anchors
    assert (float(again.real), float(again.fake)) == (float(anchors.real), float(anchors.fake))


def test_lazy_r1_is_r1_at_every_times_the_weight_in_its_steps_and_nothing_in_the_others():
    """In fit, with r1_every=2: a due step (the generator's update count even) is the step of R1 at
    twice the weight; a step between is the step without R1."""
    x = images(64)

    def one_step(start, **options):
        keras.utils.set_random_seed(0)
        gan = GAN(**gan_params(), **options)
        gan.g_optimizer.iterations.assign(start)  # where the schedule stands
        gan.d_optimizer.iterations.assign(start)
        gan.fit(gan.training_batches(x, 8), epochs=1, steps_per_epoch=1, verbose=0)
        return snapshot(gan.discriminator)

    def same(a, b):
        return all(np.allclose(p, q, rtol=1e-5, atol=1e-7) for p, q in zip(a, b))

    due, double = one_step(0, r1_weight=1.0, r1_every=2), one_step(0, r1_weight=2.0)
    between, without = one_step(1, r1_weight=1.0, r1_every=2), one_step(1)
    assert same(due, double) and same(between, without)
    assert not same(due, one_step(0))  # R1 did act in the due step


def test_lazy_r1_needs_a_penalty_to_space_out():
    with pytest.raises(ValueError, match="r1_every=16 spaces out R1 and R2, and neither is on"):
        GAN(**gan_params(), r1_every=16)
    with pytest.raises(ValueError, match="r1_every must be a whole number"):
        GAN(**gan_params(), r1_weight=1.0, r1_every=0)
