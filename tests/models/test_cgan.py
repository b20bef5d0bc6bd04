"""The conditional GAN (models/CGAN.py): the label really conditions both networks, the
discriminator stays frozen in the generator's update, both losses train, runs save, load
and resume, and the control measure tells a class-following generator from one that
ignores its labels."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from models.CGAN import CGAN, GRID_COLUMNS
from models.penalties.gradient_penalty import gradient_penalty
from tiny import changed, gan_params, images, snapshot
from utils.commands import cli
from utils.loaders import load_model
from utils.plotting import tile_images


def labelled(n=48, classes=3):
    return images(n), (np.arange(n) % classes).astype("int64")


def test_the_label_changes_what_the_generator_draws_and_how_the_discriminator_judges():
    gan = CGAN(**gan_params(), num_classes=3)
    noise = np.random.default_rng(0).normal(size=(1, 6)).astype("float32")
    drawn = [gan.generate([k], noise) for k in range(3)]
    assert not np.allclose(drawn[0], drawn[1]) and not np.allclose(drawn[1], drawn[2])
    image = images(1)
    scores = [float(gan.discriminator([image, np.array([k])], training=False)[0, 0]) for k in range(3)]
    assert len(set(np.round(scores, 7))) == 3


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="num_classes"):
        CGAN(**gan_params(), num_classes=1)
    with pytest.raises(ValueError, match="loss='lsgan': expected one of 'gan', 'wgan-gp', 'hinge'"):
        CGAN(**gan_params(), num_classes=3, loss="lsgan")
    with pytest.raises(ValueError, match="batch norm"):
        CGAN(**gan_params(discriminator_batch_norm_momentum=0.9), num_classes=3, loss="wgan-gp")
    for loss in ("wgan-gp", "hinge"):
        with pytest.raises(ValueError, match=f"loss='{loss}' trains its adversary on scores.*label_smoothing"):
            CGAN(**gan_params(), num_classes=3, loss=loss, label_smoothing=0.1)
    with pytest.raises(ValueError, match="labels must be classes"):
        CGAN(**gan_params(), num_classes=3).generate([3])


def test_grad_weight_is_the_penalty_weight_and_kept_as_given_with_any_loss():
    assert CGAN(**gan_params(), num_classes=3, loss="wgan-gp", grad_weight=5).objective.grad_weight == 5
    for loss in ("gan", "wgan-gp"):
        gan = CGAN(**gan_params(), num_classes=3, loss=loss, grad_weight=5)
        assert gan.grad_weight == 5 and gan.model_options()["grad_weight"] == 5
    with pytest.raises(ValueError, match="grad_weight"):
        CGAN(**gan_params(), num_classes=3, grad_weight=-1)


def test_the_discriminator_is_frozen_in_the_generators_update():
    gan = CGAN(**gan_params(), num_classes=3)
    before_d, before_g = snapshot(gan.discriminator), snapshot(gan.generator)
    update = tf.function(gan.update_generator)
    update(tf.random.normal((8, 6)), tf.constant(np.arange(8) % 3, tf.int32))
    assert not any(changed(before_d, snapshot(gan.discriminator)))
    assert any(changed(before_g, snapshot(gan.generator)))


@pytest.mark.parametrize("loss, names", [
    ("gan", ["d_acc", "d_acc_fake", "d_acc_real", "d_loss", "d_loss_fake", "d_loss_real", "g_acc", "g_loss"]),
    ("wgan-gp", ["d_loss", "d_loss_fake", "d_loss_gp", "d_loss_real", "g_loss"]),
])
def test_fit_on_images_and_labels_with_either_loss(loss, names):
    gan = CGAN(**gan_params(), num_classes=3, loss=loss)
    x, y = labelled()
    history = gan.fit(x, y, batch_size=8, epochs=2, steps_per_epoch=1, verbose=0)
    assert sorted(history.history) == names
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    dataset = gan.training_batches(x, 8, y_train=y)  # the loss's own n_critic: 1, or 5 for wgan-gp
    assert tuple(dataset.element_spec[1].shape) == ((8, 5) if loss == "wgan-gp" else (8,))
    gan.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
    assert len(gan.d_losses) == 3  # every fit extends the book's history


def test_fit_without_labels_says_what_it_needs():
    gan = CGAN(**gan_params(), num_classes=3)
    with pytest.raises(ValueError, match="images, labels"):
        gan.fit(images(16), batch_size=8, epochs=1, steps_per_epoch=1, verbose=0)


def test_the_conditional_penalty_is_the_images_gradient_at_the_label():
    gan = CGAN(**gan_params(discriminator_activation="leaky_relu"), num_classes=3, loss="wgan-gp")
    x = tf.constant(images(4))
    labels = tf.constant([0, 1, 2, 0], tf.int32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = gan.critic([x, labels], training=True)
    norms = tf.norm(tf.reshape(tape.gradient(scores, x), (4, -1)), axis=1)
    expected = float(tf.reduce_mean((norms - 1.0) ** 2))
    assert float(gradient_penalty(gan.critic, x, conditions=labels)) == pytest.approx(expected, rel=1e-4)


def test_wrong_labels_are_always_another_class_and_cover_the_others():
    gan = CGAN(**gan_params(), num_classes=4)
    classes = tf.constant(np.repeat(np.arange(4), 500), tf.int32)
    wrong = gan.wrong_labels(classes).numpy()
    assert not np.any(wrong == classes.numpy())
    for k in range(4):
        others = wrong[classes.numpy() == k]
        assert sorted(set(others.tolist())) == sorted(set(range(4)) - {k})
        assert np.bincount(others, minlength=4).max() < 0.45 * len(others)  # about a third each


def test_matching_aware_discriminator_sees_real_images_with_wrong_labels_as_fakes(monkeypatch):
    gan = CGAN(**gan_params(), num_classes=3, matching_aware=True)
    seen = []

    def spy_on(model):
        original = model.show_adversary

        def spy(images, conditions, label):
            seen.append((label, [np.asarray(images), np.asarray(conditions)]))
            return original(images, conditions, label)

        monkeypatch.setattr(model, "show_adversary", spy)

    spy_on(gan)
    real = tf.constant(images(6))
    classes = tf.constant([0, 1, 2, 0, 1, 2], tf.int32)
    gan.update_adversary(real, classes)
    (real_label, (real_seen, real_classes)), (fake_label, (fake_seen, fake_classes)) = seen
    assert (real_label, fake_label) == (1.0, 0.0)
    np.testing.assert_array_equal(real_classes, classes.numpy())
    assert fake_seen.shape[0] == 12  # six generated images, then the six real ones mislabelled
    np.testing.assert_array_equal(fake_seen[6:], real.numpy())
    np.testing.assert_array_equal(fake_classes[:6], classes.numpy())
    assert not np.any(fake_classes[6:] == classes.numpy())

    plain = CGAN(**gan_params(), num_classes=3)
    seen.clear()
    spy_on(plain)
    plain.update_adversary(real, classes)
    assert seen[1][1][0].shape[0] == 6


def test_matching_aware_critic_scores_mismatched_pairs_with_the_fakes(monkeypatch):
    gan = CGAN(**gan_params(discriminator_activation="leaky_relu"), num_classes=3, loss="wgan-gp",
               matching_aware=True)
    real, fake = tf.constant(images(4)), tf.constant(images(4, seed=1))
    classes, wrong = tf.constant([0, 1, 2, 0], tf.int32), tf.constant([1, 2, 0, 2], tf.int32)
    fake_scores = gan.critic([fake, classes], training=True)
    mismatched_scores = gan.critic([real, wrong], training=True)
    expected = float(tf.reduce_mean(tf.concat([fake_scores, mismatched_scores], 0)))
    monkeypatch.setattr(gan, "draw_fakes", lambda latent, conditions: fake)
    monkeypatch.setattr(gan, "wrong_labels", lambda labels: wrong)
    losses = gan.update_adversary(real, classes)
    assert float(losses[2]) == pytest.approx(expected, rel=1e-5)
    assert float(losses[2]) != pytest.approx(float(tf.reduce_mean(fake_scores)), rel=1e-3)


def test_train_saves_one_row_per_class_loads_and_resumes(tmp_path):
    gan = CGAN(**gan_params(), num_classes=3, loss="wgan-gp", instance_noise=0.05, matching_aware=True)
    x, y = labelled()
    gan.save(tmp_path)
    gan.train(x, y, batch_size=4, epochs=3, run_folder=tmp_path, print_every_n_batches=2)
    assert int(gan.d_optimizer.iterations) == 3 * 5  # the loss's five critic updates per step
    grid = np.asarray(Image.open(tmp_path / "images" / "sample_3.png"))
    expected = tile_images(np.zeros((3 * GRID_COLUMNS, 8, 8, 1)), rows=3, cols=GRID_COLUMNS).shape
    assert grid.shape[0] * expected[1] == grid.shape[1] * expected[0]  # 3 rows of 10, enlarged
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["model_class"] == "CGAN" and record["options"]["loss"] == "wgan-gp"
    loaded = load_model(CGAN, tmp_path)
    assert (loaded.objective.name, loaded.num_classes, loaded.epoch) == ("wgan-gp", 3, 3)
    assert loaded.hacks.instance_noise == 0.05 and loaded.matching_aware
    noise, labels = loaded.class_grid_inputs()
    np.testing.assert_allclose(loaded.generate(labels, noise), gan.generate(labels, noise), atol=1e-6)
    loaded.train(x, y, batch_size=4, epochs=2, run_folder=tmp_path, print_every_n_batches=2)
    assert loaded.epoch == 5 and len(loaded.d_losses) == 5


def test_labels_must_fit_the_images(tmp_path):
    gan = CGAN(**gan_params(), num_classes=3)
    with pytest.raises(ValueError, match="one integer class per image"):
        gan.train(images(16), np.zeros(15, "int64"), batch_size=4, epochs=1, run_folder=tmp_path)
    with pytest.raises(ValueError, match="integer classes"):
        gan.train(images(16), np.zeros(16, "float32"), batch_size=4, epochs=1, run_folder=tmp_path)


# -- the control measure -------------------------------------------------------------------


class Drawer:
    """Stands in for a CGAN: draws held-out silhouettes of the asked class, or always horses."""

    z_dim = 4

    def __init__(self, follow_labels):
        from utils.data.silhouettes import load_silhouettes

        self.follow = follow_labels
        self.names = ["cat", "horse", "bird"]
        x, y = load_silhouettes(self.names, split="held-out")
        from utils.data.silhouettes import SILHOUETTE_CLASSES

        self.by_class = [x[y == SILHOUETTE_CLASSES.index(name)] for name in self.names]

    def generate(self, labels, noise):
        k = 1 if not self.follow else int(labels[0])
        return self.by_class[k][: len(labels)]


@pytest.mark.parametrize("follow, low, high", [(True, 0.8, 1.0), (False, 0.25, 0.4)])
def test_class_control_tells_following_from_ignoring_the_label(follow, low, high):
    from utils.data.silhouettes import SILHOUETTE_CLASSES
    from utils.evaluation.classifier import SilhouetteFeatures
    from utils.evaluation.control import class_control

    drawer = Drawer(follow)
    report, grid = class_control(drawer, drawer.names, list(SILHOUETTE_CLASSES),
                                 SilhouetteFeatures().classify, per_class=40)
    assert low <= report["mean"] <= high, report
    assert set(report["per_class"]) == set(drawer.names)
    if not follow:
        assert report["per_class"]["horse"] > 0.8 and report["per_class"]["cat"] < 0.2
    assert grid.shape[0] == 3 * (28 + 2) + 2


def test_class_control_reports_the_classifier_on_real_images_as_the_ceiling():
    from utils.data.silhouettes import SILHOUETTE_CLASSES, load_silhouettes
    from utils.evaluation.classifier import SilhouetteFeatures
    from utils.evaluation.control import class_control
    from utils.evaluation.report import control_lines

    drawer = Drawer(follow_labels=False)
    judge = SilhouetteFeatures().classify
    x, y = load_silhouettes(["cat", "horse", "bird", "zebra"], split="held-out")
    report, _ = class_control(drawer, drawer.names, list(SILHOUETTE_CLASSES), judge, per_class=40,
                              real=(x, y))
    # Only the model's classes count (no zebras); real images are judged far better than a
    # generator that always draws horses.
    assert list(report["real_per_class"]) == drawer.names
    assert report["real_images"] == int(np.isin(y, [SILHOUETTE_CLASSES.index(n) for n in drawer.names]).sum())
    cats = x[y == SILHOUETTE_CLASSES.index("cat")]
    expected_cat = float(np.mean(judge(cats) == SILHOUETTE_CLASSES.index("cat")))
    assert report["real_per_class"]["cat"] == pytest.approx(expected_cat)
    assert report["real_mean"] > 0.8 > report["mean"]
    assert any("held-out real images (the ceiling)" in line for line in control_lines({"class_control": report}))
    with pytest.raises(ValueError, match="no images of bird"):
        class_control(drawer, drawer.names, list(SILHOUETTE_CLASSES), judge, per_class=4,
                      real=(x[y != SILHOUETTE_CLASSES.index("bird")], y[y != SILHOUETTE_CLASSES.index("bird")]))


def test_per_class_accuracy_by_hand():
    from utils.evaluation.measures import per_class_accuracy

    assert per_class_accuracy([0, 0, 1, 1, 1, 2], [0, 1, 1, 1, 0, 0]) == {0: 0.5, 1: 2 / 3, 2: 0.0}
    with pytest.raises(ValueError):
        per_class_accuracy([0, 1], [0])


# -- the command ---------------------------------------------------------------------------


def test_the_command_trains_on_chosen_animals_and_renumbers_them(run_dir, capsys):
    cli.main_cgan(["--classes", "cat,dog", "--epochs", "2", "--batch-size", "8", "--print-every", "1",
                   "--no-quality", "--seed", "0", "--matching-aware"])
    folder = run_dir / "cgan" / "0001_silhouettes-cat-dog"
    assert json.loads((folder / "data.json").read_text()) == {"name": "silhouettes", "classes": "cat,dog"}
    assert json.loads((folder / "params.json").read_text())["num_classes"] == 2
    assert json.loads((folder / "run.json").read_text())["options"]["matching_aware"] is True
    assert (folder / "generator.keras").exists() and "Done: epoch 2" in capsys.readouterr().out
    help_text = cli.build_parser("cgan").format_help()
    for option in ("--loss", "--n-critic", "--grad-weight", "--label-smoothing", "--instance-noise"):
        assert option in help_text


@pytest.mark.parametrize("argv, expected", [
    ([], True), (["--no-matching-aware"], False), (["--data", "cifar"], False),
    (["--data", "cifar", "--matching-aware"], True),
])
def test_matching_aware_follows_the_data_sets_preset_unless_asked(argv, expected):
    from utils.chapters import get

    info = get("cgan")
    args = cli.build_parser("cgan").parse_args(argv)
    assert cli.model_options(args, info)["matching_aware"] is expected


def test_cifar_with_all_ten_labels(data_dir):
    from fake_data import write_cifar10

    from utils.data import sets

    write_cifar10(data_dir / "cifar-10-batches-py")
    x, y, names = sets.Cifar(label="all").load_labelled((32, 32, 3))
    assert x.shape[1:] == (32, 32, 3) and x.min() >= -1 and x.max() <= 1
    assert set(y.tolist()) == set(range(10)) and names[7] == "horse"
    assert sets.Cifar(label="all").run_name == "cifar10"
    assert sets.infer("0001_cifar10") == sets.Cifar(label="all")
