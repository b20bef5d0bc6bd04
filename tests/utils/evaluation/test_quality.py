"""The training-time quality callback: what it scores, when, at what cost, and what it keeps."""

import json
import math
import time

import keras
import numpy as np
import pytest

from models.GAN import GAN
from tiny import gan_params, images
from utils.evaluation.quality import (PendingReference, QualityMonitor, Reference, training_signal,
                                      loss_quality_correlation)


class Projection:
    """A stand-in feature space: a fixed random projection of the pixels (optionally slow)."""

    name = "projection"
    description = "a fixed random projection of the pixels"

    def __init__(self, dim=8, seconds_per_image=0.0):
        self.dim, self.seconds_per_image = dim, seconds_per_image

    def __call__(self, batch):
        time.sleep(self.seconds_per_image * len(batch))
        flat = np.asarray(batch, np.float64).reshape(len(batch), -1)
        matrix = np.random.default_rng(0).normal(size=(flat.shape[1], self.dim))
        return flat @ matrix


def real_halves(n=120):
    data = images(2 * n, 8, seed=3)
    return data[:n], data[n:]


def test_the_floor_of_held_out_images_beats_noise():
    train, held_out = real_halves()
    reference = Reference(Projection(), train, held_out, kid_subsets=10)
    floor = reference.floor()
    assert set(floor) >= {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage", "n_samples"}
    assert floor["n_samples"] == 120
    far = reference.score(Projection()(images(120, 8, seed=9) * 0.05 + 0.9))
    assert far["fid"] > 10 * floor["fid"] and far["recall"] < floor["recall"]


def test_draws_are_scored_apart_and_averaged():
    train, held_out = real_halves()
    reference = Reference(Projection(), train, held_out, kid_subsets=5)
    fake = Projection()(images(5 * 24, 8, seed=11) * 0.8)
    result = reference.score_draws(fake, 5)
    each = [reference.score(fake[k * 24:(k + 1) * 24]) for k in range(5)]
    assert result["draws"] == 5 and result["n_samples"] == 24
    assert result["fid_draws"] == [s["fid"] for s in each]
    for name in ("fid", "kid", "precision", "recall", "density", "coverage"):
        assert result[name] == pytest.approx(np.mean([s[name] for s in each]))
    assert result["fid_sd"] == pytest.approx(np.std([s["fid"] for s in each], ddof=1)) and result["fid_sd"] > 0
    assert result["kid_se"] == pytest.approx(np.std([s["kid"] for s in each], ddof=1) / np.sqrt(5))
    single = reference.score_draws(fake[:24], 1)
    assert single["fid"] == each[0]["fid"] and single["fid_sd"] is None and single["kid_se"] is None
    with pytest.raises(ValueError, match="draws"):
        reference.score_draws(fake, 0)
    with pytest.raises(ValueError, match="cannot make 40 draws"):
        reference.score_draws(fake, 40)


def test_the_mean_of_five_draws_is_steadier_than_one():
    # Ten independent scorings of one "generator" (a fixed distribution): one draw's Fréchet
    # distance wanders, the mean of five wanders about √5 times less.
    train, held_out = real_halves()
    reference = Reference(Projection(), train, held_out, kid_subsets=2)
    rng = np.random.default_rng(5)
    single, mean = [], []
    for trial in range(10):
        fake = Projection()(images(5 * 30, 8, seed=100 + trial) * 0.9 + 0.05 * rng.normal())
        result = reference.score_draws(fake, 5)
        single.append(result["fid_draws"][0])
        mean.append(result["fid"])
    assert np.std(mean) < 0.8 * np.std(single)


def tiny_gan():
    keras.utils.set_random_seed(0)
    return GAN(**gan_params())


def test_scores_every_n_steps_and_writes_the_run_folder(tmp_path):
    # Every scoring, whatever it costs (budget inf): the budget itself is tested below, on a clock.
    gan = tiny_gan()
    train, held_out = real_halves()
    monitor = QualityMonitor(Reference(Projection(), train, held_out, kid_subsets=5), every=2,
                             budget=float("inf"), folder=tmp_path)
    gan.train(train, batch_size=8, epochs=5, run_folder=tmp_path, print_every_n_batches=5,
              callbacks=[monitor])
    assert [r["epoch"] for r in monitor.records] == [2, 4, 5]  # and once more at the end
    saved = json.loads((tmp_path / "quality.json").read_text())
    assert saved["records"] == monitor.records and saved["n_samples"] == 120 and saved["draws"] == 5
    assert all(len(r["fid_draws"]) == 5 and r["fid_sd"] > 0 for r in monitor.records)
    assert len(monitor._latents) == 5 * 120  # five draws of the floor's size, fixed for the run
    assert saved["floor"]["fid"] >= 0 and saved["features"] == "projection"
    assert (tmp_path / "quality.png").stat().st_size > 0
    assert list((tmp_path / "logs" / "quality").glob("events.out.tfevents.*"))


class Clock:
    """A clock the test moves: training steps and embedding take the time it says."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Steps(keras.callbacks.Callback):
    def __init__(self, clock, seconds):
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def on_train_batch_end(self, batch, logs=None):
        self.clock.now += self.seconds


class TimedProjection(Projection):
    def __init__(self, clock, seconds_per_image):
        super().__init__()
        self.clock, self.per_image = clock, seconds_per_image

    def __call__(self, batch):
        self.clock.now += self.per_image * len(batch)
        return super().__call__(batch)


def test_scoring_stays_within_its_share_of_the_training_time(tmp_path, monkeypatch):
    from utils.evaluation import quality

    clock = Clock()
    monkeypatch.setattr(quality, "clock", clock)
    gan = tiny_gan()
    train, held_out = real_halves()
    # 1 s per step; a scoring embeds 240 real images once, then 120 samples each time, at 10 ms each.
    pending = PendingReference(TimedProjection(clock, 0.01), lambda: (train, held_out),
                               n_train=120, n_held_out=120)
    monitor = QualityMonitor(pending, every=1, budget=0.1, folder=tmp_path, draws=1)
    gan.train(train, batch_size=8, epochs=200, run_folder=tmp_path, print_every_n_batches=200,
              callbacks=[Steps(clock, 1.0), monitor])
    assert monitor.skipped > 100 and len(monitor.records) >= 5  # some scored, most skipped
    assert monitor.scoring_seconds <= 0.1 * monitor.training_seconds()
    # The first score waits until a tenth of the training time covers the probe (two batches
    # of 64 images) and the estimated cost of embedding 360 images plus the overhead allowance.
    probe = 2 * 64 * 0.01
    estimate = 0.01 * (120 + 120 + 120) + PendingReference.OVERHEAD_SECONDS
    assert monitor.records[0]["epoch"] == math.ceil((probe + estimate) / 0.1)


def test_a_resumed_run_keeps_its_earlier_scores(tmp_path):
    from utils.runs.saved import load_model

    train, held_out = real_halves()
    reference = Reference(Projection(), train, held_out, kid_subsets=5)
    gan = tiny_gan()
    gan.save(tmp_path)
    gan.train(train, batch_size=8, epochs=4, run_folder=tmp_path, print_every_n_batches=2,
              callbacks=[QualityMonitor(reference, every=2, budget=float("inf"), folder=tmp_path)])
    # A score after the last checkpoint (as if the run was killed before saving) is dropped on resume.
    saved = json.loads((tmp_path / "quality.json").read_text())
    saved["records"].append({**saved["records"][-1], "epoch": 9})
    (tmp_path / "quality.json").write_text(json.dumps(saved))

    resumed = load_model(GAN, tmp_path)
    monitor = QualityMonitor(reference, every=2, budget=float("inf"), folder=tmp_path)
    resumed.train(train, batch_size=8, epochs=2, run_folder=tmp_path, print_every_n_batches=2,
                  callbacks=[monitor])
    assert [r["epoch"] for r in monitor.records] == [2, 4, 6]


def test_short_runs_are_not_scored():
    gan = tiny_gan()
    train, held_out = real_halves()
    monitor = QualityMonitor(Reference(Projection(), train, held_out), every=50, budget=1.0)
    gan.fit(np.concatenate([train] * 2), batch_size=8, epochs=1, steps_per_epoch=3, verbose=0,
            callbacks=[monitor])
    assert monitor.records == []


@pytest.mark.parametrize("bad, message", [(dict(every=0), "every"), (dict(budget=0), "budget"),
                                          (dict(budget=float("nan")), "budget"),
                                          (dict(n_samples=3), "n_samples"), (dict(draws=0), "draws"),
                                          (dict(draws=2.5), "draws")])
def test_bad_settings_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        QualityMonitor(None, **bad)


def test_the_training_signal_is_what_the_objective_says():
    from types import SimpleNamespace

    from models.objectives import objective_for

    def signal(loss, d_losses):
        return training_signal(SimpleNamespace(objective=objective_for(loss), d_losses=d_losses))

    wasserstein, description = signal("wgan", [[0.1, -0.5, 0.3], [0.0, -0.2, 0.1]])
    np.testing.assert_allclose(wasserstein, [0.2, 0.1])  # −(d_loss_real + d_loss_fake)
    assert "Wasserstein estimate" in description
    np.testing.assert_allclose(signal("wgan-gp", [[9.0, -0.5, 0.3, 0.8]])[0], [0.2])
    gan, description = signal("gan", [[0.7, 0, 0, 0, 0, 0]])
    np.testing.assert_allclose(gan, [0.7])
    assert description == "discriminator loss d_loss"
    np.testing.assert_allclose(signal("hinge", [[1.4, 0.5, 0.9]])[0], [1.4])  # not a distance
    assert len(signal("gan", [])[0]) == 0


def test_loss_and_quality_are_paired_over_the_steps_before_each_score():
    signal = np.repeat([4.0, 3.0, 2.0, 1.0], 10)  # a loss falling in stages of 10 steps
    records = [{"epoch": e, "fid": 5.0 * s} for e, s in ((10, 4.0), (20, 3.0), (30, 2.0), (40, 1.0))]
    result = loss_quality_correlation(records, signal)
    assert result["window"] == 10 and result["loss_values"] == [4.0, 3.0, 2.0, 1.0]
    assert result["spearman"] == pytest.approx(1.0) and result["pearson"] == pytest.approx(1.0)
    reversed_quality = [{"epoch": r["epoch"], "fid": 25.0 - r["fid"]} for r in records]
    assert loss_quality_correlation(reversed_quality, signal)["spearman"] == pytest.approx(-1.0)
