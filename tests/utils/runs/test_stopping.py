"""Stopping is safe: SIGTERM and SIGINT save after the current step, kill -9 loses at most one
save interval, a save cut short leaves the last checkpoint whole, and a NaN stops training
without overwriting the last good checkpoint.  The signal tests kill real command processes."""

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from models.GAN import GAN
from processes import ARGS, saved, start, wait_for_saved_epoch
from tiny import gan_params, images
from utils.commands import cli
from utils.loaders import load_model
from utils.runs.callbacks import TrainingDiverged
from utils.runs.folder import RunFolder, replace_atomically

@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_finishes_the_step_saves_and_the_run_resumes_without_a_gap(run_dir, signum):
    folder = RunFolder(run_dir / "gan" / "0001_silhouettes-horse")
    process = start(run_dir, "--epochs", "100000")
    wait_for_saved_epoch(folder, 6, process)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    stopped_at = json.loads(out.strip().splitlines()[-1])["epoch"]
    assert f"{signal.Signals(signum).name}: stopped after epoch {stopped_at}" in err
    assert "--resume" in err
    state = saved(folder)
    assert state["epoch"] == stopped_at  # saved right after the last step, not at the last interval
    assert not list(folder.path.rglob(".tmp-*"))

    # The command resumes it (here, in this process: what the signal left is what is tested).
    assert cli.run("04_01", [*ARGS, "--resume", "--epochs", "3"]).epoch == stopped_at + 3
    after = saved(folder)
    assert after["epoch"] == stopped_at + 3
    assert after["d_losses"][:stopped_at] == state["d_losses"]  # no gap, no duplicate
    np.testing.assert_array_equal(after["fixed_noise"], state["fixed_noise"])


def test_kill_9_loses_at_most_one_save_interval_and_the_checkpoint_loads(run_dir):
    folder = RunFolder(run_dir / "gan" / "0001_silhouettes-horse")
    process = start(run_dir, "--epochs", "100000")
    wait_for_saved_epoch(folder, 11, process)
    process.kill()
    process.communicate(timeout=60)
    state = saved(folder)
    # Saves happen after epochs 1, 6, 11, ... (the book saves when epoch % 5 == 0).
    assert state["epoch"] >= 11 and (state["epoch"] - 1) % 5 == 0
    model = load_model(GAN, folder)
    assert model.epoch == state["epoch"] and np.isfinite(np.concatenate(
        [np.ravel(w) for w in model.get_weights()])).all()


def test_an_interrupted_save_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "weights.weights.h5"
    path.write_bytes(b"the last complete checkpoint")

    def interrupted(tmp):
        Path(tmp).write_bytes(b"half a che")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replace_atomically(path, interrupted)
    assert path.read_bytes() == b"the last complete checkpoint"
    assert os.listdir(tmp_path) == ["weights.weights.h5"]


def test_a_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    gan = GAN(**gan_params())
    gan.save(tmp_path)
    gan.train(images(), 16, 3, tmp_path, print_every_n_batches=1)

    def batches_turning_to_nan():
        for step in range(1000):
            batch = images(16, seed=step)
            yield (batch if step < 2 else np.full_like(batch, np.nan)), np.zeros(16)

    # Caught at the first NaN batch on every CPU: by the losses where the kernels pass NaN on,
    # by the weights (the first kernel's gradient is NaN · something) where they drop it.
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch 5: (\w+ is nan|.*NaN or infinite)"):
        gan.train(batches_turning_to_nan(), 16, 10, tmp_path, print_every_n_batches=1,
                  using_generator=True)
    folder = RunFolder(tmp_path)
    state = saved(folder)
    assert state["epoch"] == 5 and np.isfinite(state["d_losses"]).all()
    assert not folder.sample(5).exists() and not folder.sample(6).exists()
    reloaded = load_model(GAN, tmp_path)
    assert reloaded.epoch == 5
    assert all(np.isfinite(w).all() for w in reloaded.get_weights())
