"""Nothing lost, every failure named: divergence, full or read-only disks, interrupts at any moment,
broken or foreign run folders, two processes on one folder, and arguments that cannot work."""

import errno
import json
import os
import signal

import keras
import numpy as np
import pytest

import utils.runs.checkpoint
from models.GAN import GAN
from models.WGAN import WGAN
from models.WGANGP import WGANGP
from processes import start, wait_for_saved_epoch
from tiny import critic_params, gan_params, images, snapshot
from utils.commands import cli
from utils.loaders import load_celeb, load_cifar, load_model
from utils.runs.callbacks import TrainingDiverged
from utils.runs.checkpoint import write_checkpoint
from utils.runs.folder import RunFolder, RunFolderBusy, RunFolderError, RunFolderTaken
from utils.runs.saved import SavedRunError


def leftovers(folder):
    return list(folder.path.rglob(".tmp-*"))


# -- divergence ---------------------------------------------------------------------------------


def test_a_huge_learning_rate_stops_training_with_the_step_and_the_loss(tmp_path):
    keras.utils.set_random_seed(0)
    params = {k: v for k, v in critic_params(critic_learning_rate=1e12).items() if k not in ("optimiser", "z_dim")}
    model = WGANGP(**params, optimiser="adam", grad_weight=10, z_dim=6, batch_size=16)
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch \d+: (d_loss\w* is (nan|inf|-inf)|.*NaN or infinite)"):
        model.train(images(), 16, 200, tmp_path, print_every_n_batches=1, n_critic=1)
    reloaded = load_model(WGANGP, tmp_path) if RunFolder(tmp_path).holds_run() else None
    if reloaded is not None:  # whatever was saved is finite and loads
        assert all(np.isfinite(w).all() for w in reloaded.get_weights())


def test_load_model_refuses_non_finite_weights(trained):
    gan, folder = trained
    gan.set_weights([np.full_like(w, np.nan) for w in gan.get_weights()])
    write_checkpoint(gan, folder.checkpoint)  # as if an older version had saved a diverged run
    with pytest.raises(SavedRunError, match=r"weights\.weights\.h5 holds non-finite weights"):
        load_model(GAN, folder)


# -- full and read-only disks -----------------------------------------------------------------


HDF5_FULL_DISK = RuntimeError(  # how h5py reports a full disk
    "Can't decrement id ref count (file write failed: time = Mon Dec  7 01:58:47 2026\n, filename = "
    "'x.weights.h5', file descriptor = 4, errno = 28, error message = 'No space left on device')")


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
                                   OSError(errno.EROFS, os.strerror(errno.EROFS)), HDF5_FULL_DISK])
def test_a_failed_save_stops_with_the_folder_and_what_was_kept(trained, monkeypatch, error):
    gan, folder = trained
    before = folder.checkpoint.read_bytes()
    real = utils.runs.checkpoint.replace_atomically

    def half_then_fail(path, write):
        def broken(tmp):
            with open(tmp, "wb") as f:
                f.write(b"half a checkpoint")
            raise error
        return real(path, broken)

    monkeypatch.setattr(utils.runs.checkpoint, "replace_atomically", half_then_fail)
    with pytest.raises(RunFolderError, match=r"Could not write the checkpoint in .*saved \(.*\)\. The last complete checkpoint"):
        gan.train(images(), 16, 2, folder, print_every_n_batches=1)
    monkeypatch.undo()
    assert folder.checkpoint.read_bytes() == before and not leftovers(folder)
    assert load_model(GAN, folder).epoch == 3


def test_an_error_that_is_not_the_disks_is_not_blamed_on_it(tmp_path):
    folder = RunFolder(tmp_path)
    with pytest.raises(RuntimeError, match="something else"):
        with folder.writing("the checkpoint"):
            raise RuntimeError("something else")


def test_the_networks_archives_are_written_whole_or_not_at_all(trained, monkeypatch):
    gan, folder = trained
    gan.save_model(folder)
    archive = folder.archive(gan.sampling_generator.name)
    before = archive.read_bytes()

    def cut_short(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK a third of an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", cut_short)
    with pytest.raises(KeyboardInterrupt):
        gan.save_model(folder)
    assert archive.read_bytes() == before and not leftovers(folder)


def test_the_command_names_a_full_disk_without_a_traceback(run_dir, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(utils.runs.checkpoint, "replace_atomically", fail)
    with pytest.raises(SystemExit, match="No space left on device.*No checkpoint had been saved yet"):
        cli.main_gan(["--data", "silhouettes", "--epochs", "2", "--batch-size", "8", "--no-tensorboard"])


# -- interrupts at any moment -----------------------------------------------------------------


def test_ctrl_c_before_training_starts_ends_cleanly(run_dir, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    from utils.data.sets import Silhouettes

    monkeypatch.setattr(Silhouettes, "load_training", interrupted)
    with pytest.raises(SystemExit) as stop:
        cli.main_gan(["--data", "silhouettes"])
    assert stop.value.code == 128 + signal.SIGINT
    assert "Stopped at once" in capsys.readouterr().err


def test_an_interrupt_during_a_save_keeps_the_last_checkpoint_and_the_run_resumes(trained, monkeypatch):
    gan, folder = trained
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    real_weights = utils.runs.checkpoint.weights_in_memory

    def interrupted_save(model):
        real_weights(model)
        raise KeyboardInterrupt  # a second Ctrl-C while the checkpoint is being made

    monkeypatch.setattr(utils.runs.checkpoint, "weights_in_memory", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        gan.train(images(), 16, 2, folder, print_every_n_batches=1)
    monkeypatch.undo()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert not leftovers(folder)
    resumed = load_model(GAN, folder)
    assert resumed.epoch == 3
    resumed.train(images(), 16, 2, folder, print_every_n_batches=1)
    assert resumed.epoch == 5 and len(resumed.d_losses) == 5


def test_leftovers_of_a_killed_save_are_removed_when_training_continues(trained):
    gan, folder = trained
    (folder.weights / ".tmp-weights.weights.h5").write_bytes(b"cut short by kill -9")
    gan.train(images(), 16, 1, folder, print_every_n_batches=1)
    assert not leftovers(folder)


def test_a_worker_that_is_not_the_chief_leaves_the_chiefs_saves_alone(trained, monkeypatch):
    """In a cluster the chief may be writing a file through its temporary name when another worker
    starts training: only the chief, which holds the folder, removes leftovers."""
    import utils.runs.callbacks
    import utils.runs.training

    gan, folder = trained
    being_written = folder.path / ".tmp-data.json"
    being_written.write_text("{}")
    for module in (utils.runs.training, utils.runs.callbacks):
        monkeypatch.setattr(module, "is_chief", lambda strategy=None: False)
    gan.train(images(), 16, 1, folder, print_every_n_batches=1)
    assert being_written.exists()  # the chief's own removal: the test above


# -- run folders: what wrote them, damaged files ----------------------------------------------


def test_load_model_names_a_run_of_another_class(trained, tmp_path):
    _, folder = trained
    with pytest.raises(SavedRunError, match="holds a GAN run, not a WGAN one"):
        load_model(WGAN, folder)
    os.remove(folder.run_record)  # older folders: the checkpoint says it too
    with pytest.raises(SavedRunError, match="holds a GAN run, not a WGAN one"):
        load_model(WGAN, folder)


def test_load_model_refuses_the_weights_of_another_class(trained):
    _, folder = trained
    wgan = WGAN(**critic_params())
    write_checkpoint(wgan, folder.checkpoint)  # WGAN weights in a GAN folder
    os.remove(folder.run_record)
    with pytest.raises(SavedRunError, match="holds a WGAN run, not a GAN one"):
        load_model(GAN, folder)


def test_params_of_another_model_are_named(tmp_path):
    GAN(**gan_params()).save(tmp_path)
    os.remove(RunFolder(tmp_path).run_record)
    with pytest.raises(SavedRunError, match="params.json does not fit WGAN's constructor"):
        load_model(WGAN, tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_checkpoint_is_named(trained, damage):
    _, folder = trained
    data = folder.checkpoint.read_bytes()
    folder.checkpoint.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not hdf5" * 100)
    with pytest.raises(SavedRunError, match=r"weights\.weights\.h5 is damaged or incomplete"):
        load_model(GAN, folder)


def test_a_damaged_params_json_is_named(trained):
    _, folder = trained
    folder.params_json.write_text('{"input_dim": [8, 8')
    with pytest.raises(SavedRunError, match=r"params\.json is not valid JSON"):
        load_model(GAN, folder)


@pytest.mark.parametrize("text", ['{"model_cl', '["GAN"]'])
def test_a_damaged_run_record_is_named(trained, text):
    _, folder = trained
    folder.run_record.write_text(text)
    with pytest.raises(SavedRunError, match=r"run\.json is .*it should hold \{\"model_class\": \"GAN\"\}"):
        load_model(GAN, folder)


def test_a_damaged_history_json_loses_nothing(trained):
    gan, folder = trained
    folder.history.write_text("{broken")
    reloaded = load_model(GAN, folder)  # the checkpoint holds the history
    assert reloaded.d_losses == gan.d_losses
    reloaded.train(images(), 16, 1, folder, print_every_n_batches=1)
    assert json.loads(folder.history.read_text())["epoch"] == 4


def test_the_command_names_a_foreign_run_on_resume(run_dir, trained):
    _, folder = trained
    target = run_dir / "wgan" / "0002_silhouettes-horse"
    target.parent.mkdir(parents=True)
    folder.path.rename(target)
    with pytest.raises(SystemExit, match="holds a GAN run, not a WGAN one"):
        cli.main_wgan(["--data", "silhouettes", "--resume", "--epochs", "1"])


# -- one run folder, one trainer; never replaced ------------------------------------------------


def test_a_second_process_is_refused_while_one_trains(run_dir):
    folder = RunFolder(run_dir / "gan" / "0001_silhouettes-horse")
    first = start(run_dir, "--epochs", "100000")
    try:
        wait_for_saved_epoch(folder, 1, first)
        # The command in a second process (this one) is refused, and says by whom.
        with pytest.raises(SystemExit) as refused:
            cli.run("04_01", ["--data", "silhouettes", "--batch-size", "8", "--resume", "--epochs", "1"])
        said = refused.value.code  # a message: the process would print it and exit with status 1
        assert isinstance(said, str) and f"is being trained into by process {first.pid}" in said
        with pytest.raises(RunFolderBusy, match=f"process {first.pid}"):
            load_model(GAN, folder).train(images(28, 28), 8, 1, folder)  # the API is refused too
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)


def test_a_run_takes_its_folder_lock_once(run_dir, monkeypatch):
    """The command holds the folder and hands it to ``train`` held; nothing takes it twice."""
    from tiny import use_tiny_camel

    use_tiny_camel(monkeypatch, batch_size=8)
    taken = []
    locked = RunFolder.locked

    def counting(self):
        taken.append(self.path)
        return locked(self)

    monkeypatch.setattr(RunFolder, "locked", counting)
    cli.main_gan(["--data", "silhouettes", "--epochs", "2", "--quality-every", "1000"])
    assert taken == [run_dir / "gan" / "0001_silhouettes-horse"]


def test_a_held_folder_is_trained_into_and_not_taken_again(trained):
    gan, folder = trained
    with RunFolder(folder).locked() as held:
        with pytest.raises(RunFolderBusy, match=f"process {os.getpid()}"):
            with RunFolder(folder).locked():  # a second holder, even in this process
                pass
        gan.train(images(), 16, 1, held)
    assert gan.epoch == 4
    with RunFolder(folder).locked():  # released at the end
        pass


def test_a_new_model_never_replaces_a_saved_run(trained):
    gan, folder = trained
    fresh = GAN(**gan_params())
    with pytest.raises(RunFolderTaken, match="already holds a saved run at epoch 3.*mode = 'load'"):
        fresh.save(folder)
    with pytest.raises(RunFolderTaken, match="already holds a saved run at epoch 3"):
        fresh.train(images(), 16, 1, folder, print_every_n_batches=1)
    assert load_model(GAN, folder).d_losses == gan.d_losses


def test_the_notebooks_load_mode_continues_the_run(trained):
    gan, folder = trained
    notebook = GAN(**gan_params())  # mode = 'load': build, then load the book's weights file
    notebook.load_weights(os.path.join(folder, "weights/weights.h5"))
    notebook.train(images(), 16, 2, folder, print_every_n_batches=1)
    assert notebook.epoch == 5 and notebook.d_losses[:3] == gan.d_losses
    for a, b in zip(snapshot(load_model(GAN, folder)), snapshot(notebook)):
        np.testing.assert_array_equal(a, b)


# -- arguments that cannot work ---------------------------------------------------------------


@pytest.mark.parametrize("overrides, message", [
    (dict(z_dim=0), r"z_dim=0: expected an integer of at least 1"),
    (dict(discriminator_learning_rate=-0.1), r"discriminator_learning_rate=-0.1: expected a number greater than 0"),
    (dict(generator_dropout_rate=1.5), r"generator_dropout_rate=1.5: expected None or a rate in \[0, 1\)"),
    (dict(input_dim=(8, 8)), r"input_dim=\(8, 8\): expected \(height, width, channels\)"),
    (dict(discriminator_conv_filters=[4, -8]), r"discriminator_conv_filters=-8"),
])
def test_the_constructor_names_a_bad_argument(overrides, message):
    with pytest.raises(ValueError, match=message):
        GAN(**gan_params(**overrides))


@pytest.mark.parametrize("x, message", [
    (images(size=16), r"images shaped \(16, 16, 1\), but the model was built for input_dim=\(8, 8, 1\)"),
    (np.zeros((4, 8, 8, 1), np.uint8), r"uint8 pixels.*\(x - 127.5\) / 127.5"),
    (images() * 127.5 + 127.5, r"values lie in \[.*\], not in \[-1, 1\]"),
    (np.where(images() > 0.9, np.nan, images()), "NaN or infinite"),
])
def test_training_data_that_cannot_work_is_refused_before_the_first_step(x, message, tmp_path):
    gan = GAN(**gan_params())
    with pytest.raises(ValueError, match=message):
        gan.train(x, 16, 1, tmp_path)
    with pytest.raises(ValueError, match=message):
        gan.fit(x, batch_size=16, epochs=1, verbose=0)
    assert not RunFolder(tmp_path).holds_run()


@pytest.mark.parametrize("arguments, message", [
    (dict(batch_size=0), "batch_size=0"),
    (dict(epochs=-1), "epochs=-1"),
    (dict(print_every_n_batches=0), "print_every_n_batches=0"),
    (dict(n_critic=0), "n_critic=0"),
    (dict(clip_threshold=-0.01), "clip_threshold=-0.01: expected a number greater than 0"),
])
def test_train_names_a_bad_argument(arguments, message, tmp_path):
    wgan = WGAN(**critic_params())
    call = dict(batch_size=16, epochs=1, run_folder=tmp_path)
    call.update(arguments)
    with pytest.raises(ValueError, match=message):
        wgan.train(images(), **call)


def test_the_loaders_name_what_cannot_work(data_dir):
    from fake_data import write_cifar10

    folder = write_cifar10(data_dir / "cifar-10-batches-py")
    with pytest.raises(ValueError, match="no images of class 3"):
        load_cifar(3, 10, path=_without_class(folder, 3))
    with pytest.raises(ValueError, match="image_size=0: expected an integer of at least 1"):
        load_celeb("celeb", 0, 64)


def _without_class(folder, label):
    """Rewrite a CIFAR-10 folder's batches without one class."""
    import pickle

    for path in folder.iterdir():
        batch = pickle.loads(path.read_bytes())
        keep = [k for k, l in enumerate(batch[b"labels"]) if l != label]
        batch[b"labels"] = [batch[b"labels"][k] for k in keep]
        batch[b"data"] = batch[b"data"][keep]
        batch[b"filenames"] = [batch[b"filenames"][k] for k in keep]
        path.write_bytes(pickle.dumps(batch, protocol=4))
    return folder


def test_the_checkpoint_is_keras_own_file_whichever_way_it_is_made(trained, monkeypatch, tmp_path):
    """Built in memory (Keras' saving steps) or, should those move, by save_weights itself: the same
    weights load back, and Keras' own load_weights reads it."""
    gan, folder = trained
    in_memory = write_checkpoint(gan, tmp_path / "a.weights.h5")
    monkeypatch.setattr(utils.runs.checkpoint, "weights_in_memory", lambda model: None)
    by_keras = write_checkpoint(gan, tmp_path / "b.weights.h5")
    for path in (in_memory, by_keras):
        other = GAN(**gan_params())
        keras.Model.load_weights(other, path)
        assert all(np.array_equal(a, b) for a, b in zip(snapshot(other), snapshot(gan)))
