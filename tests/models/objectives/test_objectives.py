"""Objectives are parts: each loss is one small object the models ask, and the hinge objective,
added as one module, trains GAN and CGAN, through the commands, the quality monitor and gdl-eval."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.CGAN import CGAN
from models.GAN import GAN
from models.core.updates import Side
from models.objectives import OBJECTIVES, objective_for
from tiny import gan_params, images, use_tiny_camel
from utils.chapters import LOSSES, every_chapter
from utils.commands import cli
from utils.loaders import load_model
from utils.runs.folder import RunFolder


def test_the_registry_reads_the_objectives_as_they_are():
    """The commands' table, read from the objectives' source without importing them, says what
    the imported classes say."""
    assert set(LOSSES) == set(OBJECTIVES)
    for name, (summary, binary) in LOSSES.items():
        objective = objective_for(name)
        assert summary and (summary, binary) == (objective.summary, objective.binary_targets), name
    for chapter in every_chapter().values():
        assert chapter.losses and set(chapter.losses) <= set(OBJECTIVES), chapter.key


def test_the_hinge_losses_are_margins_on_the_scores():
    hinge = objective_for("hinge")
    scores = tf.constant([[-2.0], [-0.5], [0.0], [0.5], [2.0]])
    real = hinge.adversary_loss(tf.ones_like(scores), scores).numpy()
    fake = hinge.adversary_loss(-tf.ones_like(scores), scores).numpy()
    np.testing.assert_allclose(real, [3.0, 1.5, 1.0, 0.5, 0.0])  # relu(1 − f)
    np.testing.assert_allclose(fake, [0.0, 0.5, 1.0, 1.5, 3.0])  # relu(1 + f)
    np.testing.assert_allclose(hinge.generator_loss(tf.ones_like(scores), scores).numpy(),
                               [2.0, 0.5, 0.0, -0.5, -2.0])  # −f
    assert hinge.output_activation is None and not hinge.binary_targets
    assert (hinge.real_label, hinge.fake_label) == (1.0, -1.0)


@pytest.mark.parametrize("loss, activation, d_names, g_names", [
    ("gan", "sigmoid", ("d_loss", "d_loss_real", "d_loss_fake", "d_acc", "d_acc_real", "d_acc_fake"),
     ("g_loss", "g_acc")),
    ("hinge", "linear", ("d_loss", "d_loss_real", "d_loss_fake"), ("g_loss",)),
])
def test_the_gan_takes_its_adversary_and_its_reports_from_the_objective(loss, activation, d_names, g_names):
    gan = GAN(**gan_params(), loss=loss)
    last = gan.discriminator.layers[-1]
    assert getattr(last, "activation", keras.activations.linear).__name__ == activation
    assert (gan.d_loss_names, gan.g_loss_names) == (d_names, g_names)
    assert gan.progress_names() == ["d_loss", "g_loss", *(["d_acc"] if loss == "gan" else [])]
    assert len(gan.train_discriminator(images(), 16)) == len(d_names)
    assert len(gan.train_generator(16)) == len(g_names)


def test_a_confident_correct_score_costs_the_hinge_nothing():
    gan = GAN(**gan_params(), loss="hinge")
    bias = gan.discriminator.layers[-1].bias
    bias.assign(tf.fill(bias.shape, 50.0))  # every image scored far above the margin
    x = tf.constant(images(16))
    with tf.GradientTape() as tape:
        scores = gan.discriminator(x, training=True)
        real = Side(x, targets=tf.ones((16, 1)), scores=scores)
        loss = gan.objective.adversary_losses(real=real)["d_loss_real"]
    assert float(tf.reduce_min(scores)) > 1 and float(loss) == 0.0
    for gradient in tape.gradient(loss, gan.discriminator.trainable_variables):
        assert gradient is None or not np.any(gradient.numpy())  # no gradient, no update
    d_loss, d_loss_real, d_loss_fake = gan.update_adversary(x).numpy()
    assert d_loss_real == 0.0 and d_loss_fake > 50  # the same scores on fakes cost 1 + f


def test_the_hinge_refuses_the_label_hacks_and_keeps_instance_noise():
    with pytest.raises(ValueError, match="loss='hinge' trains its adversary on scores.*instance_noise"):
        GAN(**gan_params(), loss="hinge", label_smoothing=0.1)
    assert GAN(**gan_params(), loss="hinge", instance_noise=0.1).hacks.instance_noise == 0.1
    with pytest.raises(ValueError, match="loss='wgan': expected one of 'gan', 'hinge'"):
        GAN(**gan_params(), loss="wgan")


def test_a_hinge_gan_trains_saves_and_resumes_as_a_hinge_gan(tmp_path):
    keras.utils.set_random_seed(0)
    gan = GAN(**gan_params(), loss="hinge")
    folder = RunFolder(tmp_path)
    gan.save(folder)
    gan.train(images(), 16, 3, folder, print_every_n_batches=1, tensorboard=False)
    assert json.loads(folder.run_record.read_text())["options"]["loss"] == "hinge"
    assert np.asarray(gan.d_losses).shape == (3, 3) and len(gan.g_losses) == 3
    resumed = load_model(GAN, folder)
    assert resumed.objective.name == "hinge" and resumed.epoch == 3
    resumed.train(images(), 16, 2, folder, print_every_n_batches=1, tensorboard=False)
    assert resumed.epoch == 5 and np.isfinite(np.asarray(resumed.d_losses)).all()


def test_a_hinge_cgan_trains_on_labels():
    gan = CGAN(**gan_params(), num_classes=3, loss="hinge", matching_aware=True)
    history = gan.fit(images(), np.arange(32) % 3, batch_size=16, epochs=2, verbose=0)
    assert set(history.history) >= {"d_loss", "d_loss_real", "d_loss_fake", "g_loss"}
    assert "d_acc" not in history.history
    assert gan.objective.default_n_critic == 1


def test_gdl_gan_loss_hinge_through_the_quality_monitor_and_gdl_eval(run_dir, monkeypatch, capsys):
    from utils.evaluation.quality import QualityMonitor
    from utils.evaluation.report import evaluate_run

    use_tiny_camel(monkeypatch, batch_size=8)
    # Score at every interval whatever it costs (the time budget is tested in test_quality.py).
    monkeypatch.setattr(QualityMonitor, "maybe_score", QualityMonitor.score)
    model = cli.run("04_01", ["--data", "silhouettes", "--loss", "hinge", "--epochs", "4", "--print-every", "2",
                              "--quality-every", "2", "--quality-samples", "20", "--no-tensorboard"])
    assert model.objective.name == "hinge"
    folder = RunFolder(run_dir / "gan" / "0001_silhouettes-horse")
    quality = json.loads(folder.quality.read_text())
    assert [r["epoch"] for r in quality["records"]] == [2, 4]
    report = evaluate_run(folder.path, n_samples=20, n_reference=200, n_held_out=100, say=lambda _: None)
    assert report["model_class"] == "GAN" and report["loss_quality"]["loss"] == "discriminator loss d_loss"
    assert (folder.evaluation / "summary.html").exists()
    capsys.readouterr()
    resumed = cli.run("04_01", ["--data", "silhouettes", "--epochs", "2", "--print-every", "2", "--no-quality",
                                "--no-tensorboard", "--resume"])
    assert resumed.objective.name == "hinge" and resumed.epoch == 6  # the run's own loss


def test_gdl_cgan_takes_the_hinge_and_its_own_options_from_the_registry(run_dir, monkeypatch):
    parser = cli.build_parser("cgan")
    args = parser.parse_args(["--data", "silhouettes", "--loss", "hinge", "--no-matching-aware"])
    info = every_chapter()["cgan"]
    from models.recipe.options import Recipe

    assert cli.model_options(args, info) == {"label_smoothing": 0.0, "label_flip": 0.0, "instance_noise": 0.0,
                                             **Recipe().as_dict(), "loss": "hinge", "grad_weight": 10.0,
                                             "matching_aware": False}
    args = parser.parse_args(["--data", "silhouettes", "--n-critic", "2"])
    assert cli.model_options(args, info)["matching_aware"] is True  # the silhouettes preset's
    assert cli.train_options(args, info.preset_for("silhouettes"), info) == {"n_critic": 2}
    assert "--loss" not in cli.build_parser("04_02").format_help()  # one loss: nothing to choose
    assert "--label-smoothing" not in cli.build_parser("04_02").format_help()


def test_the_hinge_trains_in_mixed_precision():
    gan = GAN(**gan_params(), loss="hinge", mixed_precision="mixed_bfloat16")
    history = gan.fit(images(), batch_size=16, epochs=2, verbose=0)
    assert np.isfinite([history.history[name] for name in gan.d_loss_names + gan.g_loss_names]).all()
