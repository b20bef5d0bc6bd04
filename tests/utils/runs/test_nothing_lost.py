"""Nothing lost, round two: a run saves wherever it starts, the last good checkpoint after a
divergence really resumes, run ids stay in the run root, labels are checked where they enter,
gdl-eval writes eval/ whole or not at all, a checkpoint names the class that wrote it, and every
argument that cannot work is named.  The signal cases run real processes."""

import json
import os
import shlex
import signal
import subprocess
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.CGAN import CGAN
from models.GAN import GAN
from models.WGAN import WGAN
from tiny import critic_params, gan_params, images, use_tiny_camel
from utils.commands import cli
from utils.loaders import load_model
from utils.runs.callbacks import TrainingDiverged, TrainingInterrupted, is_chief
from utils.runs.checkpoint import read_training_state, write_checkpoint
from utils.runs.folder import RunFolder, replace_folder_atomically, restore_replaced_folder
from utils.runs.saved import SavedRunError

FAST = ["--data", "silhouettes", "--epochs", "2", "--print-every", "1", "--batch-size", "8",
        "--no-quality", "--no-tensorboard"]


def exit_message(capsys, run, *args):
    """Run the command in this process on ``args``, expecting it to stop with a message → the message."""
    with pytest.raises(SystemExit) as stop:
        run(list(args))
    return str(stop.value.code) + capsys.readouterr().err


# -- a run saves wherever it starts -----------------------------------------------------------


@pytest.mark.parametrize("tf_config", [
    '{"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 1}}',
    '{"cluster": ',
])
def test_a_tf_config_left_in_the_environment_does_not_stop_the_run_from_saving(run_dir, tf_config,
                                                                              monkeypatch, capsys):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    assert cli.run("04_01", FAST).epoch == 2
    printed = capsys.readouterr()
    assert "TF_CONFIG is set but --distribute is none" in printed.err
    folder = RunFolder(run_dir / "gan" / "0001_silhouettes-horse")
    assert read_training_state(folder.checkpoint)["epoch"] == 2
    assert len(list(folder.images.glob("sample_*.png"))) >= 2
    assert "Done: epoch 2" in printed.out


def test_a_malformed_tf_config_is_named_when_the_run_asks_for_a_cluster(run_dir, monkeypatch, capsys):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": ')
    with pytest.raises(SystemExit) as stop:  # not another exception: no traceback
        cli.run("04_01", [*FAST, "--distribute", "multi-worker"])
    assert stop.value.code == 2  # bad input: argparse's status
    said = capsys.readouterr().err
    assert "TF_CONFIG is not valid JSON" in said
    assert '"task": {"type": "worker", "index": 0}' in said  # the form it must take
    assert not list(run_dir.rglob("*.h5"))


@pytest.mark.parametrize("text, message", [
    (None, "needs TF_CONFIG, which is not set"),
    ("[1, 2]", 'no "cluster" object'),
    ('{"cluster": {"worker": "localhost:1"}, "task": {"type": "worker", "index": 0}}',
     "must be a list of \"host:port\" strings"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "ps", "index": 0}}', "must name one of"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}',
     "task index 3 is not one of the 1 worker host"),
])
def test_a_cluster_spec_that_cannot_work_is_named_with_the_fix(text, message):
    with pytest.raises(ValueError, match="TF_CONFIG") as error:
        cli.check_tf_config(text)
    assert message in str(error.value)
    assert "host1:12345" in str(error.value)


def test_only_a_cluster_strategy_makes_a_process_a_non_chief(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 1}}))
    assert is_chief() and is_chief(tf.distribute.get_strategy()) and is_chief(GAN(**gan_params()))


def test_done_is_said_only_when_the_checkpoint_was_written(run_dir, monkeypatch, capsys):
    use_tiny_camel(monkeypatch, batch_size=8)
    monkeypatch.setattr("utils.runs.callbacks.Checkpoint.save", lambda self: False)
    message = exit_message(capsys, cli.main_gan, *FAST)
    assert "was not written; nothing of this run is saved" in message
    assert "Done" not in capsys.readouterr().out


# -- the last good checkpoint resumes ---------------------------------------------------------


@pytest.mark.parametrize("model_class, params", [(GAN, gan_params), (WGAN, critic_params)])
def test_the_checkpoint_kept_after_a_divergence_resumes_with_the_advice_followed(tmp_path, model_class, params):
    keras.utils.set_random_seed(0)
    model = model_class(**params())
    folder = RunFolder(tmp_path)
    model.save(folder)
    model.train(images(), 16, 4, folder, print_every_n_batches=1)
    good = [lr.numpy() for lr in (model.d_optimizer.learning_rate, model.g_optimizer.learning_rate)]
    for optimizer in (model.d_optimizer, model.g_optimizer):
        optimizer.learning_rate.assign(1e12)
    with pytest.raises(TrainingDiverged, match="Lower the learning rates") as diverged:
        model.train(images(), 16, 40, folder, print_every_n_batches=1)
    kept = diverged.value.kept_epoch
    assert kept is not None and kept >= 4 and f"(epoch {kept})" in str(diverged.value)
    assert str(folder.checkpoint) in str(diverged.value)

    resumed = load_model(model_class, folder)  # the advice: resume with lower learning rates
    assert resumed.epoch == kept
    assert not resumed.non_finite_state()
    for optimizer, rate in zip((resumed.d_optimizer, resumed.g_optimizer), good):
        optimizer.learning_rate.assign(rate)
    resumed.train(images(), 16, 5, folder, print_every_n_batches=1)
    assert resumed.epoch == kept + 5
    assert np.isfinite(np.asarray(resumed.d_losses, dtype=float)).all()


# -- paths stay in the run root ---------------------------------------------------------------


@pytest.mark.parametrize("run_id", ["../../escape", "a/b", "/tmp/elsewhere", "..", "", ".hidden"])
def test_a_run_id_cannot_leave_the_run_root(run_dir, tmp_path, monkeypatch, capsys, run_id):
    use_tiny_camel(monkeypatch, batch_size=8)
    before = sorted(p.name for p in tmp_path.iterdir())
    message = exit_message(capsys, cli.main_gan, *FAST, "--run-id", run_id)
    assert f"--run-id {run_id!r} is not a plain folder name" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not list(run_dir.rglob("*"))


@pytest.mark.parametrize("variable", ["GDL_DATA_DIR", "GDL_RUN_DIR"])
def test_a_data_or_run_root_that_is_a_file_is_named(run_dir, tmp_path, monkeypatch, capsys, variable):
    use_tiny_camel(monkeypatch, batch_size=8)
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    monkeypatch.setenv(variable, str(a_file))
    message = exit_message(capsys, cli.main_gan, *FAST[:1], "camel" if variable == "GDL_DATA_DIR" else
                           "silhouettes", *FAST[2:])
    assert f"{variable}={a_file} is a file, not a folder" in message


# -- labels are checked where they enter ------------------------------------------------------


@pytest.mark.parametrize("bad", [3, -1, 7])
def test_labels_outside_the_classes_are_refused_by_train_and_fit(tmp_path, bad):
    gan = CGAN(**gan_params(), num_classes=3)
    labels = np.array([0, 1, 2, bad] * 8)
    with pytest.raises(ValueError, match=rf"y_train holds 8 label\(s\) outside the model's classes 0-2.*\[{bad}\]"):
        gan.train(images(), labels, 16, 1, tmp_path, print_every_n_batches=1)
    assert not RunFolder(tmp_path).holds_run()
    with pytest.raises(ValueError, match=rf"y holds 8 label\(s\) outside the model's classes 0-2.*\[{bad}\]"):
        gan.fit(images(), labels, batch_size=32, epochs=1, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices((images(), labels)).batch(32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="CGAN labels must be classes"):
        gan.fit(dataset, epochs=1, verbose=0)


def test_labels_in_range_still_train(tmp_path):
    gan = CGAN(**gan_params(), num_classes=3)
    gan.train(images(), np.arange(32) % 3, 16, 2, tmp_path, print_every_n_batches=1)
    assert gan.epoch == 2


def test_a_cifar_batch_with_labels_out_of_range_is_named(data_dir):
    from fake_data import cifar_batch, write_cifar10
    from utils.loaders import load_cifar

    folder = write_cifar10(data_dir / "cifar-10-batches-py")
    cifar_batch(folder / "data_batch_3", np.full(10, 12), "labels")
    with pytest.raises(ValueError, match=r"data_batch_3 holds 10 label\(s\) outside CIFAR-10's classes 0-9"):
        load_cifar(7)


def test_a_conditional_command_needs_two_classes(run_dir, capsys):
    message = exit_message(capsys, cli.main_cgan, *FAST, "--classes", "horse")
    assert "--classes horse names one animal" in message and "num_classes" not in message


@pytest.mark.parametrize("classes, message", [
    ("", "'' is not an animal"), ("horse,unicorn", "'unicorn' is not an animal"),
    ("horse,horse", "names an animal twice"),
])
def test_classes_that_name_no_animal_are_refused(run_dir, monkeypatch, capsys, classes, message):
    use_tiny_camel(monkeypatch, batch_size=8)
    assert message in exit_message(capsys, cli.main_gan, *FAST, "--classes", classes)
    assert not list(run_dir.rglob("*"))


# -- gdl-eval writes eval/ whole or not at all ------------------------------------------------


def eval_arguments(folder, seed):
    return [str(folder), "--samples", "40", "--reference", "200", "--held-out", "100", "--seed", str(seed)]


def evaluate(folder, seed=0):
    """gdl-eval in a process of its own, to be stopped while it writes."""
    return subprocess.Popen(
        ["gdl-eval", *eval_arguments(folder, seed)], env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def evaluate_here(folder, seed=0):
    """gdl-eval in this process, where nothing stops it."""
    from utils.commands.evaluate import evaluate as gdl_eval

    return gdl_eval(eval_arguments(folder, seed))


def eval_files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.evaluation.iterdir())}


def evaluate_until_it_writes(folder, signum):
    """Start gdl-eval, and once it has begun writing the new eval/, stop it with ``signum``."""
    process = evaluate(folder, seed=1)
    staging = folder.path / ".writing-eval"
    deadline = time.time() + 300
    while not (staging / "samples.png").exists():
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signum)
    process.wait(timeout=60)
    return process


def test_an_interrupted_evaluation_leaves_the_previous_one_whole(run_dir):
    assert cli.run("04_01", [*FAST, "--epochs", "3"]).epoch == 3
    folder = RunFolder(run_dir / "gan" / "0001_silhouettes-horse")
    evaluate_here(folder)
    before = eval_files(folder)
    for signum in (signal.SIGTERM, signal.SIGKILL):
        evaluate_until_it_writes(folder, signum)
        assert eval_files(folder) == before, signum  # the previous evaluation, byte for byte

    evaluate_here(folder, seed=1)
    after = eval_files(folder)
    assert after["samples.png"] != before["samples.png"]  # other latent points: a new evaluation
    assert json.loads(after["metrics.json"])["epoch"] == 3
    assert not (folder.path / ".writing-eval").exists() and not (folder.path / ".replaced-eval").exists()


def test_a_folder_swap_cut_between_its_two_renames_is_undone(tmp_path):
    folder = tmp_path / "eval"
    replace_folder_atomically(folder, lambda out: (out / "metrics.json").write_text("old"))
    os.rename(folder, tmp_path / ".replaced-eval")  # killed after the first rename
    (tmp_path / ".writing-eval").mkdir()
    (tmp_path / ".writing-eval" / "metrics.json").write_text("half")
    restore_replaced_folder(folder)
    assert (folder / "metrics.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]

    def fail(out):
        (out / "metrics.json").write_text("new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replace_folder_atomically(folder, fail)
    assert (folder / "metrics.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]


def test_gdl_eval_on_a_folder_that_is_not_a_run_says_so(tmp_path, capsys):
    from utils.commands.evaluate import evaluate as gdl_eval

    message = exit_message(capsys, gdl_eval, str(tmp_path))
    assert "is not a run folder" in message and "--data" not in message


def test_a_damaged_quality_json_is_named_before_anything_is_written(tmp_path, capsys):
    from utils.commands.evaluate import evaluate as gdl_eval

    gan = GAN(**gan_params(input_dim=(28, 28, 1), generator_initial_dense_layer_size=(7, 7, 8)))
    folder = RunFolder(tmp_path / "0001_silhouettes-horse")
    gan.save(folder)
    gan.train(images(size=28), 16, 1, folder, print_every_n_batches=1, tensorboard=False)
    folder.quality.write_text('{"records": [\n')
    message = exit_message(capsys, gdl_eval, str(folder.path), "--samples", "20")
    assert f"{folder.quality} is damaged" in message
    assert not folder.evaluation.exists() and not (folder.path / ".writing-eval").exists()


# -- the checkpoint names the class that wrote it ---------------------------------------------


def test_a_checkpoint_of_another_class_copied_into_a_run_is_refused(trained):
    _, gan_run = trained
    wgan = WGAN(**critic_params())
    wgan.epoch = 7
    write_checkpoint(wgan, gan_run.checkpoint)  # run.json still says GAN
    with pytest.raises(SavedRunError, match=r"was written by a WGAN, but run.json records a GAN run"):
        load_model(GAN, gan_run)


def test_a_wrong_class_in_run_json_is_named_not_blamed_on_the_params(trained):
    _, gan_run = trained
    gan_run.run_record.write_text(json.dumps({"model_class": "WGAN", "options": {}}))
    with pytest.raises(SavedRunError) as error:
        load_model(WGAN, gan_run)
    assert "was written by a GAN, but run.json records a WGAN run" in str(error.value)
    assert "params" not in str(error.value)


# -- arguments that cannot work, named ---------------------------------------------------------


@pytest.mark.parametrize("overrides, message", [
    (dict(discriminator_conv_filters=4), r"discriminator_conv_filters=4: expected a list with one entry per layer"),
    (dict(generator_conv_strides=[1]), r"generator_conv_filters=\[8, 1\]: expected as many layers as.*generator_conv_strides \(1\)"),
    (dict(generator_activation="relux"), r"generator_activation='relux': expected 'leaky_relu' or a Keras activation"),
    (dict(generator_initial_dense_layer_size=8), r"generator_initial_dense_layer_size=8: expected \(height, width, channels\)"),
    (dict(z_dim=10**12), r"z_dim=1000000000000: .* GiB to train, more than this machine's"),
])
def test_the_constructor_names_an_argument_that_cannot_work(overrides, message):
    with pytest.raises(ValueError, match=message):
        GAN(**gan_params(**overrides))


@pytest.mark.parametrize("name", ["adma", "sgd"])
def test_an_optimiser_the_book_does_not_name_trains_adam_and_says_so(name):
    with pytest.warns(UserWarning, match=rf"optimiser='{name}' is neither 'adam' nor 'rmsprop'"):
        gan = GAN(**gan_params(optimiser=name))
    assert isinstance(gan.d_optimizer, keras.optimizers.Adam)  # the book's get_opti
    assert float(gan.d_optimizer.beta_1) == 0.9


def test_a_large_latent_is_said(recwarn):
    GAN(**gan_params(z_dim=1_600_000))  # 1.6 M × 32 = 51 M weights
    assert any("first dense layer holds 51 M weights" in str(w.message) for w in recwarn.list)


def test_a_batch_larger_than_the_data_is_refused(run_dir, tmp_path, monkeypatch, capsys):
    use_tiny_camel(monkeypatch, batch_size=8)
    message = exit_message(capsys, cli.main_gan, *FAST, "--batch-size", "100000")
    assert "--batch-size 100000 is more than the 801 training images" in message
    with pytest.raises(ValueError, match="batch_size=33 .* more than the 32 training images"):
        GAN(**gan_params()).train(images(), 33, 1, tmp_path / "api")


def test_resume_keeps_the_runs_batch_size_and_says_when_another_is_asked(run_dir, monkeypatch, capsys):
    use_tiny_camel(monkeypatch, batch_size=8)
    folder = RunFolder(run_dir / "gan" / "0001_silhouettes-horse")
    cli.main_gan([*FAST, "--batch-size", "4"])
    assert read_training_state(folder.checkpoint)["batch_size"] == 4
    capsys.readouterr()
    cli.main_gan([*(a for a in FAST if a not in ("--batch-size", "8")), "--resume"])
    assert read_training_state(folder.checkpoint)["batch_size"] == 4
    assert "batch size" not in capsys.readouterr().err
    cli.main_gan([*FAST, "--resume"])
    assert "the run trained at batch size 4 so far and goes on at 8" in capsys.readouterr().err
    state = read_training_state(folder.checkpoint)
    assert state["batch_size"] == 8 and state["epoch"] == 6


def test_the_printed_resume_command_quotes_what_the_shell_would_split(run_dir, monkeypatch, capsys):
    use_tiny_camel(monkeypatch, batch_size=8)

    def interrupted(model, *args, **kwargs):
        raise TrainingInterrupted(signal.SIGTERM, 1, "folder")

    monkeypatch.setattr("models.core.book.BookModel._train", interrupted)
    args = [*FAST, "--run-id", "my run", "--classes", "horse,zebra"]
    message = exit_message(capsys, cli.main_gan, *args)
    command = message.strip().splitlines()[-1].strip()
    assert shlex.split(command) == ["gdl-gan", *args, "--resume"]


# -- what a checkpoint holds and what run.json says never disagree ------------------------------


def trained_run(folder, **options):
    from models.GAN import GAN

    gan = GAN(**gan_params(), **options)
    gan.save(folder)
    gan.train(images(32), 8, 2, folder, print_every_n_batches=2)
    return gan


def test_an_option_that_changes_the_checkpoint_is_refused_on_load(tmp_path):
    from models.GAN import GAN
    from utils.runs.saved import SavedRunError

    trained_run(tmp_path, ema=0.99)
    with pytest.raises(SavedRunError, match=r"ema=0.0 \(the run has 0.99\).*Load it without ema"):
        load_model(GAN, tmp_path, ema=0.0)
    with pytest.raises(SavedRunError, match=r"spectral_norm=True \(the run has False\)"):
        load_model(GAN, tmp_path, spectral_norm=True)
    assert load_model(GAN, tmp_path).recipe.ema == 0.99  # the run is as it was


def test_run_json_follows_an_option_the_run_trains_on_with(tmp_path, capsys):
    from models.GAN import GAN

    trained_run(tmp_path, ema=0.99)
    gan = load_model(GAN, tmp_path, ema=0.9, r1_weight=0.5)  # another decay: the same variables
    gan.train(images(32), 8, 2, tmp_path, print_every_n_batches=2)
    assert "run.json now records ema 0.9 (was 0.99), r1_weight 0.5 (was 0.0)" in capsys.readouterr().err
    again = load_model(GAN, tmp_path)
    assert (again.recipe.ema, again.recipe.r1_weight, again.epoch) == (0.9, 0.5, 4)


def test_a_missing_run_json_is_named_not_blamed_on_the_checkpoint(tmp_path):
    from models.GAN import GAN
    from utils.runs.saved import SavedRunError

    trained_run(tmp_path, loss="hinge")
    (tmp_path / "run.json").unlink()
    with pytest.raises(SavedRunError, match="run.json is missing: it records the options"):
        load_model(GAN, tmp_path)
    with pytest.raises(SavedRunError, match=r"d_losses hold 3 losses per step where this model reports 6"):
        load_model(GAN, tmp_path, loss="gan")
    gan = load_model(GAN, tmp_path, loss="hinge")
    gan.train(images(32), 8, 1, tmp_path, print_every_n_batches=1)  # and run.json is written again
    assert load_model(GAN, tmp_path).objective.name == "hinge"


# -- advice that works when followed ----------------------------------------------------------------


def follow(advice):
    """Run the command the advice ends with (in this process), as a user pasting it would."""
    import shlex

    from utils.commands import cli

    line = advice.strip().splitlines()[-1].strip()
    words = shlex.split(line)
    assert words[0] == "gdl-gan"
    return cli.run("04_01", words[1:])


def test_the_divergence_advice_names_the_setting_and_works_when_followed(run_dir, capsys):
    from utils.commands import cli

    args = ["--data", "silhouettes", "--epochs", "3", "--print-every", "1", "--no-quality", "--no-tensorboard"]
    with pytest.raises(SystemExit) as stop:
        cli.run("04_01", [*args, "--g-learning-rate", "1e30"])
    advice = str(stop.value)
    assert "grew beyond 10000" in advice and "Lower --g-learning-rate 1e+30 (generator_learning_rate= in Python), far beyond the usual range" \
        in advice
    assert "no checkpoint to continue from" in advice and "Start again with:" in advice
    assert "1e30" not in advice.splitlines()[-1] and "--g-learning-rate 0.001" in advice.splitlines()[-1]
    assert "keeps the last good checkpoint" not in capsys.readouterr().out  # none exists
    model = follow(advice)
    assert model.epoch == 3 and float(model.g_optimizer.learning_rate) == pytest.approx(0.001)

    # From a saved run: the advice resumes it, with the setting lowered, and it trains on.
    with pytest.raises(SystemExit) as stop:
        cli.run("04_01", [*args, "--resume", "--r1", "1e30"])
    advice = str(stop.value)
    assert "Lower --r1 1e+30 (r1_weight= in Python)" in advice and "Continue from the last good checkpoint (epoch 3)" in advice
    assert advice.splitlines()[-1].strip().endswith("--r1 10 --resume")
    model = follow(advice)
    assert model.epoch == 6 and model.recipe.r1_weight == 10


def test_within_the_usual_range_the_advice_lowers_both_learning_rates():
    from models.GAN import GAN

    advice, lower = GAN(**gan_params()).divergence_advice()
    assert advice.startswith("Lower the learning rates (now --d-learning-rate 0.001 (discriminator_learning_rate= "
                             "in Python) and --g-learning-rate")
    assert set(lower) == {"--d-learning-rate", "--g-learning-rate"}


def test_an_edited_run_json_is_named_among_the_causes(trained):
    from models.GAN import GAN
    from utils.runs.saved import SavedRunError

    _, folder = trained
    record = json.loads(folder.run_record.read_text())
    record["options"]["spectral_norm"] = True
    folder.run_record.write_text(json.dumps(record))
    with pytest.raises(SavedRunError, match="(?s)built from params.json and run.json .*If either was edited, restore it"):
        load_model(GAN, folder)
