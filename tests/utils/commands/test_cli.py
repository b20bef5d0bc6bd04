"""The chapter commands: help, the offline main job, refusing to overwrite, resuming."""

import json
import subprocess
from pathlib import Path

import pytest

from utils.commands import cli


def assert_saved_run(folder, samples, networks):
    """What every command leaves in its run folder."""
    assert sorted(p.name for p in (folder / "images").iterdir()) == [f"sample_{n}.png" for n in samples]
    assert (folder / "weights" / "weights.weights.h5").exists()
    assert (folder / "losses.png").exists() and (folder / "params.json").exists()
    for network in networks:
        assert (folder / f"{network}.keras").exists()


def test_help_lists_the_options():
    out = subprocess.run(["gdl-gan", "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--data", "--epochs", "--batch-size", "--print-every", "--run-id", "--seed",
                   "--resume", "--mixed-precision"):
        assert option in out


def test_gan_command_trains_on_the_silhouettes_and_resumes(run_dir, capsys):
    args = ["--data", "silhouettes", "--epochs", "3", "--batch-size", "8", "--print-every", "2",
            "--seed", "1"]
    cli.main_gan(args)
    folder = run_dir / "gan" / "0001_silhouettes-horse"
    assert_saved_run(folder, samples=(0, 2, 3), networks=("generator",))
    assert "Done: epoch 3" in capsys.readouterr().out

    with pytest.raises(SystemExit, match="--resume"):
        cli.main_gan(args)

    capsys.readouterr()
    cli.main_gan(args[:-2] + ["--resume", "--epochs", "2", "--label-smoothing", "0.1", "--g-learning-rate", "0.001"])
    history = json.loads((folder / "history.json").read_text())
    assert history["epoch"] == 5 and len(history["d_losses"]) == 5
    # An option asked for on resuming is honoured and said; run.json and params.json follow.
    err = capsys.readouterr().err
    assert ("--resume trains on with label_smoothing 0.1 (was 0.0), the generator's learning rate 0.001 "
            "(was 0.0004) from epoch 3") in err
    assert json.loads((folder / "params.json").read_text())["generator_learning_rate"] == 0.001
    resumed = cli.run("04_01", args[:-2] + ["--resume", "--epochs", "1"])
    assert resumed.hacks.label_smoothing == 0.1 and float(resumed.g_optimizer.learning_rate) == pytest.approx(0.001)


def test_resume_refuses_by_name_what_it_cannot_change(run_dir, capsys):
    args = ["--data", "silhouettes", "--epochs", "1", "--batch-size", "8", "--no-quality", "--no-tensorboard"]
    cli.main_gan([*args, "--ema", "0.99"])
    for extra, named in ((["--ema", "0"], "ema 0.0 (the run's: 0.99)"), (["--spectral-norm"], "spectral_norm True"),
                         (["--d-dropout", "0.3"], "--d-dropout 0.3 (the run's: 0.4)"),
                         (["--recipe", "modern"], "spectral_norm True"),
                         (["--loss", "hinge"], "loss 'hinge' (the run's: 'gan')")):
        with pytest.raises(SystemExit) as stop:
            cli.main_gan([*args, "--resume", *extra])
        assert stop.value.code == 2 and named in capsys.readouterr().err
    # The run's own value again is no change: a search that extends a run repeats all its flags.
    assert cli.run("04_01", [*args, "--resume", "--ema", "0.99", "--d-dropout", "0.4"]).epoch == 2
    no_dropout = [*args, "--run-id", "no-dropout", "--d-dropout", "0"]  # 0: no dropout layer (None)
    cli.main_gan(no_dropout)
    assert cli.run("04_01", [*no_dropout, "--resume"]).epoch == 2
    with pytest.raises(SystemExit) as stop:
        cli.main_gan([*args, "--run-id", "other", "--augment-target", "0.6"])
    assert stop.value.code == 2 and "no augmentation is on" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        cli.main_gan([*args, "--run-id", "other", "--augment", "cutout", "--augment-adjust-images", "500"])
    assert stop.value.code == 2 and "it is not adaptive: add --augment-target" in capsys.readouterr().err
    model = cli.run("04_01", [*args, "--run-id", "ada", "--augment", "cutout", "--augment-target", "0.6",
                              "--augment-adjust-images", "500"])
    assert model.augmentation.adjust_images == 500 and model.recipe.augment_adjust_images == 500


def test_resume_with_nothing_saved_says_so(run_dir):
    with pytest.raises(SystemExit, match="Nothing to resume"):
        cli.main_gan(["--data", "silhouettes", "--resume", "--run-id", "0042"])


def test_camel_offline_points_at_the_offline_option(run_dir, data_dir, dead_url, monkeypatch):
    monkeypatch.setenv("GDL_QUICKDRAW_URL", dead_url)
    with pytest.raises(SystemExit) as info:
        cli.main_gan(["--data", "camel", "--epochs", "1"])
    message = str(info.value)
    assert "full_numpy_bitmap_camel.npy" in message and "--data silhouettes" in message


def test_camel_from_a_local_mirror(run_dir, data_dir, http_server, monkeypatch):
    import numpy as np

    rng = np.random.default_rng(0)
    np.save(http_server.root / "camel.npy", rng.integers(0, 256, (40, 784), dtype=np.uint8))
    monkeypatch.setenv("GDL_QUICKDRAW_URL", http_server.url)
    cli.main_gan(["--data", "camel", "--epochs", "1", "--batch-size", "8"])
    assert (data_dir / "camel" / "full_numpy_bitmap_camel.npy").exists()
    assert (run_dir / "gan" / "0001_camel" / "images" / "sample_0.png").exists()


def test_bad_numbers_are_refused(run_dir):
    with pytest.raises(SystemExit, match="--epochs must be at least 1"):
        cli.main_gan(["--data", "silhouettes", "--epochs", "0"])


def _help_entry(help_text, option):
    """The lines argparse wrote for one option, joined into one line."""
    lines = help_text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(option))
    entry = [lines[start]]
    for line in lines[start + 1:]:
        if line.strip().startswith("-"):
            break
        entry.append(line)
    return " ".join(" ".join(entry).split())


def test_help_states_defaults_where_they_inform():
    from utils import presets

    gan = cli.build_parser("04_01").format_help()
    assert f"(default: {presets.GAN_CAMEL.batch_size})" in _help_entry(gan, "--batch-size")
    assert f"(default: {presets.GAN_CAMEL.epochs})" in _help_entry(gan, "--epochs")
    # Switches and options without a default carry no "(default: False/True/None)".
    for option in ("--resume", "--no-tensorboard", "--no-quality", "--seed"):
        assert "default" not in _help_entry(gan, option), option
    # gdl-cgan's step counts depend on --data: each data set's preset value is named.
    cgan = cli.build_parser("cgan").format_help()
    expected = (f"(default: --data's preset: silhouettes {presets.CGAN_SILHOUETTES.epochs}, "
                f"cifar {presets.CGAN_CIFAR.epochs})")
    assert _help_entry(cgan, "--epochs").endswith(expected)
    assert _help_entry(cgan, "--epochs").count("default") == 1


@pytest.mark.parametrize("command", ["gdl-gan", "gdl-download", "gdl-cgan", "gdl-infogan"])
def test_console_scripts_are_installed(command):
    assert subprocess.run([command, "--help"], capture_output=True).returncode == 0



def test_wgan_help_lists_the_critic_options():
    out = subprocess.run(["gdl-wgan", "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--n-critic", "--clip-threshold", "--data", "--label", "--epochs", "--resume"):
        assert option in out
    assert "--grad-weight" not in out


def test_wgangp_help_lists_the_gradient_penalty_weight():
    out = subprocess.run(["gdl-wgangp", "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--grad-weight", "--n-critic", "--data", "--epochs", "--resume"):
        assert option in out
    assert "--clip-threshold" not in out


def test_wgan_command_clips_the_critic(run_dir, capsys):
    import numpy as np

    from models.WGAN import WGAN
    from utils.loaders import load_model

    cli.main_wgan(["--data", "silhouettes", "--epochs", "2", "--batch-size", "8", "--print-every", "1",
                   "--n-critic", "2", "--clip-threshold", "0.05", "--seed", "1"])
    folder = run_dir / "wgan" / "0002_silhouettes-horse"
    assert_saved_run(folder, samples=(0, 1, 2), networks=("critic", "generator"))
    assert "Done: epoch 2" in capsys.readouterr().out
    history = json.loads((folder / "history.json").read_text())
    assert len(history["d_losses"]) == 2 and len(history["d_losses"][0]) == 3

    gan = load_model(WGAN, folder)
    weights = np.concatenate([np.ravel(w) for w in gan.critic.get_weights()])
    assert np.abs(weights).max() <= 0.05 + 1e-7
    # N(0, 0.02) initial weights: some start beyond 0.05, so clipping left them on the bound.
    assert np.isclose(np.abs(weights), 0.05).sum() > 0


def test_wgangp_command_uses_the_gradient_penalty_weight(run_dir, capsys):
    cli.main_wgangp(["--data", "silhouettes", "--epochs", "2", "--batch-size", "8", "--print-every", "1",
                     "--n-critic", "2", "--grad-weight", "5", "--seed", "1"])
    folder = run_dir / "wgangp" / "0001_silhouettes-horse"
    assert_saved_run(folder, samples=(0, 1, 2), networks=("critic", "generator"))
    params = json.loads((folder / "params.json").read_text())
    assert params["grad_weight"] == 5 and params["batch_size"] == 8
    assert params["input_dim"] == [64, 64, 3]
    history = json.loads((folder / "history.json").read_text())
    assert len(history["d_losses"]) == 2 and len(history["d_losses"][0]) == 4
    assert "Done: epoch 2" in capsys.readouterr().out


def test_infogan_command_trains_without_labels(run_dir, capsys):
    cli.main_infogan(["--epochs", "2", "--batch-size", "8", "--print-every", "1", "--no-quality",
                      "--categorical-dim", "4", "--continuous-dim", "1", "--seed", "0"])
    folder = run_dir / "infogan" / "0001_silhouettes-all"
    record = json.loads((folder / "run.json").read_text())
    assert record["model_class"] == "InfoGAN"
    assert record["options"]["categorical_dim"] == 4 and record["options"]["continuous_dim"] == 1
    assert "Done: epoch 2" in capsys.readouterr().out


@pytest.mark.parametrize("from_epoch, kept", [(0, None), (2, 1)])
def test_a_diverged_run_offers_to_resume_only_from_a_checkpoint_that_exists(run_dir, monkeypatch,
                                                                            from_epoch, kept):
    from models.core.adversarial import AdversarialModel
    from tiny import use_tiny_camel

    use_tiny_camel(monkeypatch, batch_size=8)
    # The guard reports a non-finite update from `from_epoch` on (as if a weight went NaN there).
    monkeypatch.setattr(AdversarialModel, "non_finite_updates", lambda self: int(self.epoch >= from_epoch))
    with pytest.raises(SystemExit) as stopped:
        cli.main_gan(["--data", "silhouettes", "--epochs", "5", "--batch-size", "8", "--print-every",
                      "1", "--no-quality", "--no-tensorboard"])
    message = str(stopped.value)
    assert f"Training diverged at epoch {from_epoch}" in message
    if kept is None:
        assert "holds no checkpoint" in message and "--resume" not in message
    else:
        assert f"last good checkpoint (epoch {kept})" in message and "--resume" in message


def test_a_command_measures_the_convolution_forms_by_default(run_dir, tmp_path, monkeypatch, capsys):
    """The suite forces the fast forms (GDL_CONV_FORM=fast, conftest.py) to be the same on every
    CPU; a user's run leaves it unset: each layer's form is measured, cached, then read back."""
    from models.ops import conv_forms

    monkeypatch.delenv("GDL_CONV_FORM")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    decided = len(conv_forms.decisions())
    model = cli.run("04_01", ["--data", "silhouettes", "--epochs", "2", "--batch-size", "8", "--print-every", "1",
                              "--no-quality", "--no-tensorboard", "--seed", "0"])
    assert model.epoch == 2 and "Done: epoch 2" in capsys.readouterr().out
    sources = {decision["source"] for decision in conv_forms.decisions()[decided:]}
    assert "measured" in sources and sources <= {"measured", "this process", "cache file"}
    assert json.loads(Path(conv_forms.cache_path()).read_text())["entries"]


@pytest.mark.parametrize("env, argv, message", [
    ({"KERAS_BACKEND": "theano"}, [], "KERAS_BACKEND=theano: Keras 3 runs on tensorflow, jax, torch, not 'theano'"),
    ({"KERAS_BACKEND": "numpy"}, [], "KERAS_BACKEND=numpy: Keras' numpy backend only runs models"),
    ({}, ["--backend", "jax", "--distribute", "mirrored"], "--distribute mirrored is TensorFlow's tf.distribute"),
])
def test_a_backend_that_cannot_train_here_is_named_before_any_work(env, argv, message, tmp_path):
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "utils.commands.cli", "04_01", "--data", "silhouettes", *argv],
                            capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__)))),
                            env={**os.environ, "GDL_RUN_DIR": str(tmp_path), **env})
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # nothing started


def test_a_missing_backend_says_how_to_install_it(monkeypatch):
    from utils import backends

    monkeypatch.setattr(backends, "installed", lambda backend: backend != "torch")
    assert backends.problem("torch", "--backend torch") == (
        "--backend torch: PyTorch is not installed here; install it with pip install -e '.[torch]' "
        "(docs/backends.md), or use tensorflow or jax.")
    assert backends.problem("jax", "--backend jax") is None
