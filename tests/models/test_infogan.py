"""InfoGAN: structured latent codes, the Q head, the information term in both players, saving."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from models.InfoGAN import GRID_COLUMNS, InfoGAN
from tiny import changed, gan_params, images, snapshot
from utils import plotting
from utils.evaluation.codes import code_class_match
from utils.loaders import load_model
from utils.runs.folder import RunFolder

CODES = dict(categorical_dim=3, continuous_dim=2, q_dense_size=8)


def make(seed=1, params=None, **options):
    keras.utils.set_random_seed(seed)
    return InfoGAN(**gan_params(**(params or {})), **{**CODES, **options})


@pytest.fixture
def infogan():
    return make()


def q_head(model):
    """The Q head's own weights by layer name (its body is the discriminator's)."""
    return {v.path.split("/")[-2]: keras.ops.convert_to_numpy(v).copy() for v in model.q_head_variables}


def q_cross_entropy(model, n=256, seed=123):
    """Q's categorical cross-entropy on freshly generated images of known codes."""
    latent = model.sample_latent(n, seed=seed)
    logits, means = model.q_network(model.generator(latent, training=False), training=False)
    return float(model.info_loss(latent, logits, means)[1])


# -- construction ----------------------------------------------------------------------------


def test_builds_the_gans_networks_with_the_codes_in_the_latent_and_a_q_head(infogan):
    assert infogan.latent_dim == 6 + 3 + 2
    assert infogan.generator.input_shape == (None, 11)
    assert infogan.generator.output_shape == (None, 8, 8, 1)
    assert infogan.discriminator.output_shape == (None, 1)
    assert infogan.discriminator.layers[-1].activation.__name__ == "sigmoid"
    assert infogan.q_network.output_shape == [(None, 3), (None, 2)]
    assert infogan.q_network.inputs[0] is infogan.discriminator.inputs[0]  # on the discriminator's body
    assert [l.name for l in infogan.q_network.layers[-4:]] == [
        "q_dense", "q_activation", "q_categorical", "q_continuous"]
    assert infogan.q_network.get_layer("q_dense").units == 8
    assert infogan.q_network.get_layer("q_activation").negative_slope == pytest.approx(0.2)
    assert infogan.q_network.get_layer("q_categorical").dtype_policy.compute_dtype == "float32"
    # The body is shared, not copied; the head's weights belong to the model (checkpoints, save_weights).
    convolutions = [layer for layer in infogan.discriminator.layers if "conv" in layer.name]
    body = {id(v) for layer in convolutions for v in layer.trainable_variables}
    assert len(body) == 4 and body <= {id(v) for v in infogan.q_network.trainable_variables}
    model_weights = {id(w) for w in infogan.weights}
    assert len(infogan.q_head_variables) == 6 and all(id(v) in model_weights for v in infogan.q_head_variables)
    lines = []
    infogan.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    assert "q_network" in "\n".join(lines)
    assert infogan.d_loss_names[-1] == "d_info" and infogan.g_loss_names == ("g_loss", "g_acc", "g_info")
    assert infogan.progress_names() == ["d_loss", "g_loss", "d_acc", "g_info"]
    assert InfoGAN.param_names() == list(gan_params())  # the book's arguments, as the GAN's


@pytest.mark.parametrize("bad", [dict(categorical_dim=1), dict(categorical_dim=2.5), dict(continuous_dim=-1),
                                 dict(info_weight=-0.5), dict(continuous_weight=float("nan")),
                                 dict(q_dense_size=0)])
def test_bad_code_options_are_refused_by_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        InfoGAN(**gan_params(), **bad)


# -- the latent codes ---------------------------------------------------------------------------


def test_training_latents_are_noise_one_hot_and_uniform_codes(infogan):
    latent = keras.ops.convert_to_numpy(infogan.latent_batch(3000))
    assert latent.shape == (3000, 11)
    z, one_hot, continuous = latent[:, :6], latent[:, 6:9], latent[:, 9:]
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
    assert set(np.unique(one_hot)) == {0.0, 1.0} and np.all(one_hot.sum(axis=1) == 1)
    shares = one_hot.mean(axis=0)
    assert np.all(np.abs(shares - 1 / 3) < 0.04)  # uniform over the categories
    assert continuous.min() >= -1 and continuous.max() <= 1
    assert continuous.min() < -0.95 and continuous.max() > 0.95 and abs(continuous.mean()) < 0.05
    _, categories, codes = infogan.split_latent(latent)
    np.testing.assert_array_equal(categories, one_hot.argmax(axis=1))
    np.testing.assert_array_equal(codes, continuous)


def test_sample_latent_takes_given_codes_and_is_repeatable(infogan):
    latent = infogan.sample_latent(5, categories=[0, 1, 2, 2, 1], continuous=[0.5, -0.25], seed=3)
    z, categories, continuous = infogan.split_latent(latent)
    assert latent.dtype == np.float32 and latent.shape == (5, 11)
    np.testing.assert_array_equal(categories, [0, 1, 2, 2, 1])
    np.testing.assert_array_equal(continuous, np.tile([0.5, -0.25], (5, 1)))
    np.testing.assert_array_equal(latent, infogan.sample_latent(5, [0, 1, 2, 2, 1], [0.5, -0.25], seed=3))
    assert not np.array_equal(z, infogan.split_latent(infogan.sample_latent(5, seed=4))[0])
    assert set(infogan.split_latent(infogan.sample_latent(4, categories=2))[1]) == {2}
    with pytest.raises(ValueError, match="categories"):
        infogan.sample_latent(2, categories=[0, 3])
    with pytest.raises(ValueError, match="continuous"):
        infogan.sample_latent(2, continuous=[1.0, 2.0, 3.0])


# -- the information term in both players ----------------------------------------------------


def test_the_generator_update_carries_the_weighted_information_term():
    """Same weights, same latent points: only the information weight differs."""
    without, with_info, again = (make(info_weight=w, continuous_weight=0.0) for w in (0.0, 1.0, 1.0))
    doubled = make(info_weight=2.0, continuous_weight=0.0)
    latent = tf.constant(without.sample_latent(16, seed=0))
    losses = {name: model.update_generator(latent).numpy()
              for name, model in (("0", without), ("1", with_info), ("1 again", again), ("2", doubled))}
    assert losses["0"][2] == 0.0
    assert losses["1"][2] == pytest.approx(math.log(3), rel=0.02)  # Q starts near chance
    assert losses["2"][2] == pytest.approx(2 * losses["1"][2], rel=1e-5)
    np.testing.assert_allclose(losses["0"][0], losses["1"][0], rtol=1e-6)  # g_loss: the adversarial part
    assert any(changed(snapshot(without.generator), snapshot(with_info.generator)))
    assert not any(changed(snapshot(again.generator), snapshot(with_info.generator)))


def test_the_information_term_trains_q_and_the_generator_to_agree():
    """A few dozen steps: Q reads the categorical code of fresh images far better than chance.

    Without the information term (both weights 0) the head never moves, and
    Q's reading stays at chance, ln 3.
    """
    x = images(64)
    fast = dict(discriminator_learning_rate=0.01, generator_learning_rate=0.01)
    trained = make(seed=0, params=fast, info_weight=5.0, continuous_dim=1, q_dense_size=16)
    control = make(seed=0, params=fast, info_weight=0.0, continuous_weight=0.0, continuous_dim=1,
                   q_dense_size=16)
    before = q_cross_entropy(trained)
    assert before == pytest.approx(math.log(3), abs=0.01)
    head = q_head(control)
    for _ in range(40):
        for model in (trained, control):
            model.train_discriminator(x, 32)
            model.train_generator(32)
    assert q_cross_entropy(trained) < 0.75 * before
    assert q_cross_entropy(control) == pytest.approx(math.log(3), abs=0.02)
    assert all(np.array_equal(head[name], value) for name, value in q_head(control).items())


def test_only_the_continuous_weight_moves_only_the_continuous_output():
    model = make(info_weight=0.0, continuous_weight=0.5)
    head = q_head(model)
    for _ in range(3):
        model.train_discriminator(images(), 16)
    moved = {name: not np.array_equal(value, head[name]) for name, value in q_head(model).items()}
    assert moved == {"q_dense": True, "q_categorical": False, "q_continuous": True}


def test_discriminator_step_trains_the_discriminator_and_q_not_the_generator(infogan):
    d_before, g_before, head = snapshot(infogan.discriminator), snapshot(infogan.generator), q_head(infogan)
    d = infogan.train_discriminator(images(), 16)
    assert len(d) == 7 and all(isinstance(v, float) for v in d)
    assert d[0] == pytest.approx(0.5 * (d[1] + d[2]), rel=1e-5)
    assert d[6] > 0  # d_info
    assert not any(changed(g_before, snapshot(infogan.generator)))
    assert all(changed(d_before, snapshot(infogan.discriminator)))
    assert all(not np.array_equal(value, head[name]) for name, value in q_head(infogan).items())


def test_generator_step_freezes_the_discriminator_q_and_their_batch_statistics():
    model = make(params=dict(discriminator_batch_norm_momentum=0.5))
    d_before, q_before, g_before = snapshot(model.discriminator), snapshot(model.q_network), snapshot(model.generator)
    for _ in range(3):
        g = model.train_generator(16)
    assert len(g) == 3 and g[2] > 0
    assert not any(changed(d_before, snapshot(model.discriminator)))
    assert not any(changed(q_before, snapshot(model.q_network)))
    assert any(changed(g_before, snapshot(model.generator)))
    model.train_discriminator(images(), 16)  # while the discriminator's own step moves its statistics
    names = [w.path for w in model.discriminator.weights]
    moved = changed(d_before, snapshot(model.discriminator))
    assert any(m for m, n in zip(moved, names) if "moving_mean" in n)


def test_float16_scales_both_discriminator_side_optimizers_and_trains():
    model = make(mixed_precision="mixed_float16")
    assert isinstance(model.q_optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.q_network.get_layer("q_dense").compute_dtype == "float16"
    head = q_head(model)
    losses = model.train_discriminator(images(), 16) + model.train_generator(16)
    assert np.isfinite(losses).all()
    assert all(not np.array_equal(value, head[name]) for name, value in q_head(model).items())


# -- grids, the run folder, saving -----------------------------------------------------------


def expected_png_size(rows, cols, image=8, gap=2, min_size=320):
    height, width = rows * (image + gap) + gap, cols * (image + gap) + gap
    scale = max(1, math.ceil(min_size / max(height, width)))
    return width * scale, height * scale


def test_sample_images_draws_one_row_per_category_sweeping_a_continuous_code(infogan, tmp_path):
    path = infogan.sample_images(tmp_path)
    assert path == str(RunFolder(tmp_path).sample(0))
    picture = Image.open(path)
    assert picture.size == expected_png_size(3, GRID_COLUMNS)
    # The grid's points: one fixed z per row, the first code from -1 to 1, the second at 0.
    z, categories, codes = infogan.split_latent(infogan.fixed_noise)
    assert len(z) == 3 * GRID_COLUMNS
    np.testing.assert_array_equal(categories, np.repeat(np.arange(3), GRID_COLUMNS))
    np.testing.assert_allclose(codes[:GRID_COLUMNS, 0], np.linspace(-1, 1, GRID_COLUMNS), atol=1e-6)
    assert np.all(codes[:, 1] == 0)
    assert np.all(z.reshape(3, GRID_COLUMNS, -1) == z.reshape(3, GRID_COLUMNS, -1)[:, :1])
    assert not np.array_equal(z[0], z[GRID_COLUMNS])
    # The same points every time, so grids of successive epochs compare.
    assert np.array_equal(np.array(picture), np.array(Image.open(infogan.sample_images(tmp_path))))
    images, shape = infogan.sample_batch()  # what the run folder's grids draw
    assert shape == (3, GRID_COLUMNS)
    np.testing.assert_array_equal(images, infogan.generator(infogan.fixed_noise, training=False))
    np.testing.assert_array_equal(infogan.sample_grid(), plotting.tile_images(images, 3, GRID_COLUMNS))


def test_evaluation_fills_in_the_codes_of_noise_points(infogan):
    """Evaluation draws z_dim numbers per image; the sampler completes them, repeatably."""
    z = np.random.default_rng(0).normal(size=(25, 6)).astype("float32")
    latent = infogan.with_codes(z)
    noise, categories, codes = infogan.split_latent(latent)
    np.testing.assert_array_equal(noise, z)
    np.testing.assert_array_equal(categories, [0] * 10 + [1] * 10 + [2] * 5)  # in runs of ten
    assert np.all(codes[:10] == codes[0]) and not np.array_equal(codes[0], codes[10])
    assert np.all(np.abs(codes) <= 1)
    np.testing.assert_array_equal(infogan.with_codes(z), latent)
    assert not np.array_equal(infogan.with_codes(z + 1)[:, 9:], codes)  # other points, other codes
    images = infogan.sampler(z, training=False)
    assert images.shape == (25, 8, 8, 1)
    np.testing.assert_array_equal(images, infogan.generator(latent, training=False))
    with pytest.raises(ValueError, match="z_dim"):
        infogan.with_codes(np.zeros((2, 11)))


def test_without_continuous_codes_the_columns_are_ten_noise_points():
    model = make(continuous_dim=0)
    assert model.q_network.output_shape == [(None, 3), (None, 0)]
    assert len(model.train_discriminator(images(), 16)) == 7 and len(model.train_generator(16)) == 3
    z, categories, codes = model.split_latent(model.fixed_noise)
    assert codes.shape == (30, 0) and len(np.unique(z[:, 0])) == 30
    assert model.sample_grid().shape[:2] == (3 * 10 + 2, 10 * 10 + 2)


def test_train_then_load_model_keeps_the_codes_the_q_head_and_the_grid(tmp_path):
    options = dict(categorical_dim=4, continuous_dim=1, info_weight=0.5, continuous_weight=0.2,
                   q_dense_size=12, label_smoothing=0.1)
    model = make(**options)
    folder = RunFolder(tmp_path / "run")
    model.save(folder)
    model.train(images(), 16, 3, folder, print_every_n_batches=2, tensorboard=False)
    assert model.epoch == 3 and len(model.d_losses[-1]) == 7 and len(model.g_losses[-1]) == 3
    # The run folder's grids are code grids: 4 categories × 10 columns.
    for epoch in (0, 2, 3):
        assert Image.open(folder.sample(epoch)).size == expected_png_size(4, GRID_COLUMNS)
    assert json.loads(folder.run_record.read_text())["options"]["categorical_dim"] == 4

    loaded = load_model(InfoGAN, folder)
    for name in ("categorical_dim", "continuous_dim", "info_weight", "continuous_weight", "q_dense_size"):
        assert getattr(loaded, name) == options[name], name
    assert loaded.hacks.label_smoothing == 0.1 and loaded.epoch == 3
    assert not any(changed(snapshot(model.q_network), snapshot(loaded.q_network)))
    assert not any(changed(snapshot(model.generator), snapshot(loaded.generator)))
    assert int(loaded.q_optimizer.iterations) == int(model.q_optimizer.iterations) == 3
    np.testing.assert_array_equal(loaded.fixed_noise, model.fixed_noise)
    np.testing.assert_array_equal(loaded.sample_grid(), model.sample_grid())
    loaded.train(images(), 16, 1, folder, print_every_n_batches=2, tensorboard=False)  # the run continues
    assert loaded.epoch == 4


def test_keras_whole_model_saving_keeps_the_codes_and_q(infogan, tmp_path):
    infogan.train_discriminator(images(), 16)
    infogan.save(tmp_path / "infogan.keras")
    loaded = keras.saving.load_model(tmp_path / "infogan.keras")
    assert isinstance(loaded, InfoGAN)
    assert {name: getattr(loaded, name) for name in CODES} == CODES
    assert loaded.get_config()["info_weight"] == 1.0 and loaded.get_config()["continuous_weight"] == 0.1
    assert not any(changed(snapshot(infogan.q_network), snapshot(loaded.q_network)))


# -- reading the codes of images --------------------------------------------------------------------


def test_predict_codes_reads_categories_and_means(infogan):
    categories, means = infogan.predict_codes(images(10), batch_size=4)
    assert categories.shape == (10,) and categories.dtype == np.int64
    assert set(categories) <= {0, 1, 2}
    assert means.shape == (10, 2) and means.dtype == np.float32
    logits, expected = infogan.q_network(images(10), training=False)
    np.testing.assert_array_equal(categories, np.argmax(logits, axis=1))
    np.testing.assert_allclose(means, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="input_dim"):
        infogan.predict_codes(images(4, size=16))
    with pytest.raises(ValueError, match="batch_size"):
        infogan.predict_codes(images(4), batch_size=0)


def test_code_class_match_on_a_briefly_trained_model():
    from utils.data.silhouettes import SILHOUETTE_CLASSES, load_silhouettes

    x, labels = load_silhouettes(["bird", "elephant", "zebra"], image_size=8, split="held-out")
    pick = np.random.default_rng(0).choice(len(x), 120, replace=False)
    x, labels = x[pick], labels[pick]
    model = make()
    for _ in range(5):
        model.train_discriminator(x, 32)
        model.train_generator(32)
    report = code_class_match(model, x, labels, class_names=SILHOUETTE_CLASSES)
    assert 0.0 <= report["nmi"] <= 1.0
    assert 1 / 3 <= report["accuracy"] <= 1.0  # a 3 × 3 matching always gets at least a third right
    assert report["n_images"] == 120
    table = np.array(report["contingency"])
    assert table.shape == (10, 3) and table.sum() == 120
    assert set(np.nonzero(table.sum(axis=1))[0]) == {1, 5, 9}
    assert set(report["mapping"]) == {0, 1, 2}
    assigned = {code: name for code, name in report["mapping"].items() if name is not None}
    assert set(assigned.values()) <= {"bird", "elephant", "zebra"}
    hits = sum(table[SILHOUETTE_CLASSES.index(name), code] for code, name in assigned.items())
    assert report["accuracy"] == pytest.approx(hits / 120)
