"""The chapter's models are Keras models: fit() on arrays, datasets and streams, any callback,
steps_per_execution, Keras' own saving — and where a book name is a Keras name, both work."""

import csv
import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.GAN import GAN
from models.WGAN import WGAN
from models.WGANGP import WGANGP
from tiny import critic_params, gan_params, images, snapshot
from utils.runs.callbacks import run_callbacks
from utils.runs.folder import RunFolder


@pytest.fixture
def gan():
    keras.utils.set_random_seed(7)
    return GAN(**gan_params())


def test_the_three_classes_are_keras_models_with_the_books_loss_names():
    assert issubclass(GAN, keras.Model) and issubclass(WGAN, keras.Model) and issubclass(WGANGP, keras.Model)
    wgan = WGAN(**critic_params())
    history = wgan.fit(images(), batch_size=16, epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "d_loss_real", "d_loss_fake", "g_loss"}


def test_fit_on_an_array_runs_one_book_epoch_per_batch(gan):
    d0, g0 = int(gan.d_optimizer.iterations), int(gan.g_optimizer.iterations)
    history = gan.fit(images(32), batch_size=16, epochs=2, verbose=0)
    assert int(gan.g_optimizer.iterations) - g0 == 4  # 2 batches × 2 epochs, one generator update each
    assert int(gan.d_optimizer.iterations) - d0 == 8  # the book's two discriminator updates per step
    assert len(history.history["d_loss"]) == 2
    # The book's history follows Keras' epochs.
    assert gan.epoch == 2 and len(gan.d_losses) == 2 and len(gan.d_losses[0]) == 6


def test_fit_makes_one_critic_update_per_real_batch_the_step_holds():
    """``training_batches(x, 8, n_critic=3)`` puts three batches of 8 different images side by
    side in each step: three critic updates of 8 images; a plain batch makes one."""
    wgan = WGAN(**critic_params())
    seen = []
    original = wgan.show_adversary

    def record(images, conditions, label):
        if label == 1.0:
            seen.append(images)
        return original(images, conditions, label)

    wgan.show_adversary = record
    x = np.arange(24, dtype="float32").reshape(24, 1, 1, 1) * np.ones((1, 8, 8, 1), "float32") / 24
    batches = wgan.training_batches(x, 8, n_critic=3)
    assert tuple(batches.element_spec.shape) == (8, 3, 8, 8, 1)
    assert sorted(next(iter(batches)).numpy()[:, :, 0, 0, 0].ravel() * 24) == pytest.approx(range(24))
    wgan.fit(batches, epochs=1, verbose=0, steps_per_epoch=1)
    assert len(seen) == 3 and [int(batch.shape[0]) for batch in seen] == [8, 8, 8]
    d0 = int(wgan.d_optimizer.iterations)
    wgan.fit(x, batch_size=8, epochs=1, verbose=0, steps_per_epoch=2)
    assert int(wgan.d_optimizer.iterations) - d0 == 2 * 2  # two steps of one critic update (real, fake)
    d0 = int(wgan.d_optimizer.iterations)
    wgan.fit(batches, epochs=1, verbose=0, steps_per_epoch=1)
    assert int(wgan.d_optimizer.iterations) - d0 == 3 * 2  # three critic updates of two steps


def test_fit_on_a_dataset_with_labels_and_on_the_celeb_stream(gan, tmp_path, data_dir):
    from PIL import Image

    from utils.loaders import load_celeb

    dataset = tf.data.Dataset.from_tensor_slices((images(32), np.zeros(32))).batch(8)
    gan.fit(dataset, epochs=1, shuffle=False, verbose=0)
    assert gan.epoch == 1
    faces = data_dir / "faces"
    faces.mkdir()
    rng = np.random.default_rng(0)
    for k in range(8):
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(faces / f"{k}.jpg")
    stream = load_celeb("faces", 8, 4)
    gray = GAN(**gan_params(input_dim=(8, 8, 3), generator_conv_filters=[8, 3]))
    gray.fit(stream.dataset, epochs=2, steps_per_epoch=2, shuffle=False, verbose=0)
    assert gray.epoch == 2 and np.isfinite(gray.d_losses).all()


def test_initial_epoch_and_steps_per_execution(gan):
    gan.compile(d_optimizer=gan.d_optimizer, g_optimizer=gan.g_optimizer, steps_per_execution=4)
    history = gan.fit(images(64), batch_size=8, epochs=3, initial_epoch=1, verbose=0)
    assert history.epoch == [1, 2] and gan.epoch == 3
    assert int(gan.g_optimizer.iterations) == 16  # 8 batches per epoch, 4 to each execution


def test_keras_callbacks_work(gan, tmp_path):
    class Counter(keras.callbacks.Callback):
        batches = 0

        def on_train_batch_end(self, batch, logs=None):
            Counter.batches += 1
            assert set(logs) >= {"d_loss", "g_loss", "d_acc"}

    callbacks = [
        keras.callbacks.TensorBoard(log_dir=str(tmp_path / "tb")),
        keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt-{epoch}.weights.h5"), save_weights_only=True),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        keras.callbacks.TerminateOnNaN(),
        Counter(),
    ]
    gan.fit(images(32), batch_size=16, epochs=2, callbacks=callbacks, verbose=0)
    assert Counter.batches == 4
    assert glob.glob(str(tmp_path / "tb" / "train" / "events.out.tfevents.*"))
    assert (tmp_path / "ckpt-2.weights.h5").exists()
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [row["epoch"] for row in rows] == ["0", "1"] and "g_acc" in rows[0]
    other = GAN(**gan_params())
    other.load_weights(tmp_path / "ckpt-2.weights.h5")
    for a, b in zip(snapshot(gan), snapshot(other)):
        np.testing.assert_array_equal(a, b)


def test_backup_and_restore_resumes_an_interrupted_fit(gan, tmp_path):
    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("preempted")

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="preempted"):
        gan.fit(images(32), batch_size=16, epochs=4, callbacks=[backup, Crash()], verbose=0)
    restarted = GAN(**gan_params())
    history = restarted.fit(images(32), batch_size=16, epochs=4, verbose=0,
                            callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    assert history.epoch == [2, 3]  # continued after the last backed-up epoch
    assert int(restarted.g_optimizer.iterations) == 8  # 2 restored epochs + 2 more, 2 batches each


def test_the_run_folder_callbacks_work_from_a_plain_fit(gan, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = RunFolder(tmp_path / "run").make()
    gan.fit(images(32), batch_size=16, epochs=3, verbose=0, callbacks=run_callbacks(gan, folder, every=2))
    assert sorted(p.name for p in folder.images.iterdir()) == ["sample_0.png", "sample_2.png", "sample_3.png"]
    assert folder.checkpoint.exists() and folder.history.exists() and folder.loss_plot.exists()
    scalars = EventAccumulator(str(folder.logs / "train")).Reload().Tags()
    assert "epoch_d_loss" in scalars["scalars"] or "epoch_d_loss" in scalars.get("tensors", [])
    samples = EventAccumulator(str(folder.logs / "samples"), size_guidance={"tensors": 0}).Reload()
    assert "samples" in samples.Tags().get("tensors", []) + samples.Tags().get("images", [])


def test_save_means_the_books_folder_or_a_keras_file(gan, tmp_path):
    gan.fit(images(32), batch_size=16, epochs=1, verbose=0)
    gan.save(tmp_path / "run")  # the book: params and diagrams in a folder
    assert (tmp_path / "run" / "params.json").exists() and (tmp_path / "run" / "viz").is_dir()
    gan.save(tmp_path / "gan.keras")  # Keras: the whole model in one archive
    restored = keras.models.load_model(tmp_path / "gan.keras")
    assert isinstance(restored, GAN) and restored.z_dim == gan.z_dim
    for a, b in zip(snapshot(gan), snapshot(restored)):
        np.testing.assert_array_equal(a, b)
    assert int(restored.g_optimizer.iterations) == int(gan.g_optimizer.iterations) == 2
    restored.fit(images(32), batch_size=16, epochs=1, verbose=0)  # and it trains on


def test_load_weights_takes_keras_files_and_the_books_name(gan, tmp_path):
    gan.save_weights(tmp_path / "mine.weights.h5")  # Keras' own call
    other = GAN(**gan_params())
    other.load_weights(tmp_path / "mine.weights.h5")
    for a, b in zip(snapshot(gan), snapshot(other)):
        np.testing.assert_array_equal(a, b)
    gan.train(images(), 16, 2, tmp_path / "run", print_every_n_batches=1)
    book = GAN(**gan_params())
    book.load_weights(os.path.join(tmp_path, "run", "weights/weights.h5"))  # the book's call
    assert book.epoch == 2 and book.d_losses == gan.d_losses  # a run's checkpoint resumes the run


def test_name_is_the_books_section_and_the_keras_models_name():
    assert GAN(**gan_params()).name == "gan"
    assert WGAN(**critic_params()).name == "wgan"


def test_predict_draws_images_from_latent_points(gan):
    out = gan.predict(np.random.normal(size=(5, gan.z_dim)), verbose=0)
    assert out.shape == (5, 8, 8, 1) and np.abs(out).max() <= 1.0
