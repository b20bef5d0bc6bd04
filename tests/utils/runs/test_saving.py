"""Saving, loading and resuming a run: nothing is lost when training stops."""

import json
import os
import pickle

import keras
import numpy as np
import pytest

from models.GAN import GAN
from tiny import gan_params, images, snapshot
from utils.loaders import load_model


def _optimizer_state(optimizer):
    return [keras.ops.convert_to_numpy(v).copy() for v in optimizer.variables]


def test_save_writes_readable_params_and_the_books_pickle(tmp_path):
    gan = GAN(**gan_params())
    gan.save(tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    assert list(params) == GAN.param_names()
    assert params["z_dim"] == 6
    with open(tmp_path / "params.pkl", "rb") as f:
        assert pickle.load(f) == [gan_params()[name] for name in GAN.param_names()]
    assert (tmp_path / "viz" / "discriminator_summary.txt").read_text().count("discriminator_conv") >= 2


def test_plot_model_without_pydot_writes_summaries_and_a_note(tmp_path, monkeypatch, capsys):
    import models.core.book

    monkeypatch.setattr(models.core.book, "_missing_diagram_tools", lambda: "pydot")
    GAN(**gan_params()).plot_model(tmp_path)
    assert "text summaries" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "viz")) == [
        "discriminator_summary.txt", "generator_summary.txt", "model_summary.txt"
    ]


def test_interrupted_run_resumes_with_optimizer_epoch_and_history(tmp_path):
    keras.utils.set_random_seed(0)
    x = images()
    gan = GAN(**gan_params())
    gan.save(tmp_path)
    gan.train(x, 16, 5, tmp_path, print_every_n_batches=2)

    resumed = load_model(GAN, tmp_path)
    assert resumed.epoch == 5
    assert resumed.d_losses == gan.d_losses and resumed.g_losses == gan.g_losses
    for a, b in zip(snapshot(gan.model), snapshot(resumed.model)):
        np.testing.assert_array_equal(a, b)
    for original, loaded in ((gan.d_optimizer, resumed.d_optimizer), (gan.g_optimizer, resumed.g_optimizer)):
        state, restored = _optimizer_state(original), _optimizer_state(loaded)
        assert len(state) == len(restored) and int(loaded.iterations) == int(original.iterations) > 0
        for a, b in zip(state, restored):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(resumed.fixed_noise, gan.fixed_noise)

    resumed.train(x, 16, 3, tmp_path, print_every_n_batches=2)
    assert resumed.epoch == 8 and len(resumed.d_losses) == 8
    assert resumed.d_losses[:5] == gan.d_losses
    assert json.loads((tmp_path / "history.json").read_text())["epoch"] == 8
    assert int(resumed.g_optimizer.iterations) == int(gan.g_optimizer.iterations) + 3


def test_resume_from_a_checkpoint_mid_run_matches_its_epoch(tmp_path):
    """State is saved every print_every_n_batches: the saved epoch matches the saved history."""
    gan = GAN(**gan_params())
    gan.save(tmp_path)
    gan.train(images(), 16, 4, tmp_path, print_every_n_batches=3)
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["epoch"] == len(history["d_losses"]) == 4


def test_load_weights_understands_the_books_file_name(tmp_path):
    gan = GAN(**gan_params())
    gan.train(images(), 16, 1, tmp_path, print_every_n_batches=1)
    other = GAN(**gan_params())
    other.load_weights(os.path.join(tmp_path, "weights/weights.h5"))  # as the book's notebooks type it
    for a, b in zip(snapshot(gan.model), snapshot(other.model)):
        np.testing.assert_array_equal(a, b)


def test_load_weights_missing_file_names_the_keras_3_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"weights\.weights\.h5"):
        GAN(**gan_params()).load_weights(os.path.join(tmp_path, "weights/weights.h5"))


def test_load_model_refuses_a_pickle_that_imports(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    with open(tmp_path / "params.pkl", "wb") as f:
        pickle.dump([Evil()], f)
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|nt.system"):
        load_model(GAN, tmp_path)


def test_a_truncated_params_pkl_is_named(tmp_path):
    from utils.runs.saved import SavedRunError, read_params

    (tmp_path / "params.pkl").write_bytes(pickle.dumps([1, 2, 3])[:-3])
    with pytest.raises(SavedRunError, match="params.pkl is damaged"):
        read_params(tmp_path)


def test_load_model_reads_the_books_params_pkl(tmp_path):
    gan = GAN(**gan_params())
    gan.save(tmp_path)
    gan.train(images(), 16, 1, tmp_path, print_every_n_batches=1)
    os.remove(tmp_path / "params.json")
    assert load_model(GAN, tmp_path).z_dim == 6


def test_save_model_writes_keras_archives(tmp_path):
    gan = GAN(**gan_params())
    gan.save_model(tmp_path)
    generator = keras.models.load_model(tmp_path / "generator.keras")
    assert generator.output_shape == (None, 8, 8, 1)
