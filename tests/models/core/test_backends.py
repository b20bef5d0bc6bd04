"""The chapter on JAX and PyTorch: the book's contracts hold there, and one run folder serves all.

Each other backend runs in a process of its own (``tests/backend_probe.py``), since
Keras picks its backend once per process.  A backend that is not installed is
skipped: JAX comes with the test extra; PyTorch with ``pip install -e ".[torch]"``.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from models.GAN import GAN
from tiny import gan_params, images

PROBE = Path(__file__).resolve().parents[2] / "backend_probe.py"
OTHERS = [pytest.param(name, marks=pytest.mark.skipif(importlib.util.find_spec(module) is None,
                                                     reason=f"{name} is not installed"))
          for name, module in (("jax", "jax"), ("torch", "torch"))]
INSTALLED = [name for name, module in (("jax", "jax"), ("torch", "torch")) if importlib.util.find_spec(module)]


# The probe's networks are tiny and each runs a few steps, so compiling them is most of its time: XLA's
# CPU back end compiles them faster without its expensive optimisations.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


# The probe builds many networks of the same shapes, and Keras compiles each one's initialisers and
# steps anew; JAX's compilation cache, in a folder of the test's own, compiles each program once.
ONE_COMPILE_EACH = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}


def probe(backend, folder, epochs, out):
    """Every check of ``backend`` in one process of its own (``backend_probe.everything``)."""
    env = {**os.environ, "KERAS_BACKEND": backend,
           "XLA_FLAGS": " ".join((FAST_COMPILE, "--xla_force_host_platform_device_count=2")),
           "JAX_COMPILATION_CACHE_DIR": str(out.parent / f"{backend}-compiled"), **ONE_COMPILE_EACH}
    result = subprocess.run([sys.executable, str(PROBE), str(folder), str(epochs), str(out)], env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """TensorFlow starts a GAN run; each other backend installed, in turn, checks the book's
    contracts, loads the run (its grid drawn first), trains it on two epochs, and on JAX trains
    data-parallel.  → (the run folder, TensorFlow's grid before each backend, what each found)."""
    from utils.runs.saved import load_model

    tmp = tmp_path_factory.mktemp("backends")
    folder = tmp / "run"
    keras.utils.set_random_seed(0)
    gan = GAN(**gan_params(generator_batch_norm_momentum=0.9))
    gan.save(str(folder))
    gan.train(images(64), batch_size=8, epochs=2, run_folder=str(folder), print_every_n_batches=2,
              tensorboard=False)
    grids, found = {}, {}
    for backend in INSTALLED:
        grids[backend] = load_model(GAN, folder).sample_batch()[0]
        found[backend] = probe(backend, folder, 2, tmp / f"{backend}.json")
    return folder, grids, found


@pytest.mark.parametrize("backend", OTHERS)
def test_the_books_contracts_hold_on_each_backend(backend, probed):
    found = probed[2][backend]["contracts"]
    assert found["backend"] == backend
    keras.utils.set_random_seed(1)
    here = GAN(**gan_params(discriminator_batch_norm_momentum=0.9, discriminator_dropout_rate=0.3))
    assert found["gan_parameters"] == [here.discriminator.count_params(), here.generator.count_params()]
    assert found["gan_fit_finite"] and found["gan_d_losses"] == 2
    assert found["generator_update_leaves_discriminator"], "train_generator moved the discriminator"
    assert found["generator_update_moves_generator"]
    assert found["book_combined_model_leaves_discriminator"], "gan.model.train_on_batch moved it"
    assert found["discriminator_losses"] == 6
    assert 0.009 < found["wgan_max_weight"] <= 0.01 + 1e-7, "the critic's weights are not clipped"
    assert found["penalty"] == pytest.approx(found["penalty_expected"], rel=1e-4)
    assert found["wgangp_losses_finite"]
    assert found["recipe_average_updates"] == 12.0  # 3 epochs of 4 steps: one average update each
    assert found["recipe_probability"] != 0.5 and found["recipe_finite"]  # ADA moved p
    assert found["mixed_precision"] == ["bfloat16", True]
    assert found["float16"] == ["LossScaleOptimizer", "float16", True, 2 + 1]  # two fit() steps, one book step
    assert found["subpixel_form"] == "subpixel" and found["generator_uses_subpixel"]
    assert max(found["subpixel_max_difference"]) < 1e-4, "subpixel form differs from upsample + conv"
    # Forms measured with this backend's own gradients, cached under its name and version.
    assert [source for _, _, source in found["measured_forms"]] == ["measured"] * 3
    assert all(form in ("keras", "subpixel") and sorted(ms) == ["keras", "subpixel"]
               for form, ms, _ in found["measured_forms"])
    assert all(ms[form] is not None for form, ms, _ in found["measured_forms"]), "chose a form that failed"
    assert len(found["form_cache_keys"]) == 3
    assert all(f"; {backend}=" in key and "layer=subpixel.Conv2D" in key for key in found["form_cache_keys"])
    if backend == "jax":  # the hand-written JAX step gdl-bench times makes the very same update
        assert found["handwritten_difference"] < 1e-5
    assert found["lazy_due_is_double"] and found["lazy_between_is_none"] and found["lazy_due_acts"]
    assert found["lecam_anchors_moved"] and found["minibatch_std_finite"]
    assert found["cgan_generate"] == [3, 8, 8, 1]
    assert found["infogan_d_losses"] == 7


@pytest.mark.skipif(not INSTALLED, reason="neither JAX nor PyTorch is installed")
def test_a_run_continues_across_backends_and_draws_the_same_grid(probed):
    """TensorFlow starts a run; each other backend loads it, draws the grid from its fixed noise
    (the same images as TensorFlow's from the same weights) and trains on; TensorFlow finishes."""
    from utils.runs.saved import load_model

    folder, grids, found = probed
    epoch = 2
    for backend in INSTALLED:
        resumed = found[backend]["resume"]
        assert resumed["backend"] == backend
        assert resumed["epoch_loaded"] == epoch and resumed["d_losses_loaded"] == epoch
        np.testing.assert_allclose(np.load(folder / f"grid_{backend}.npy"), grids[backend], atol=1e-4)
        assert resumed["iterations_after"] == resumed["iterations_loaded"] + 4  # two real + two fake updates
        epoch += 2
        assert resumed["epoch_after"] == epoch
    back = load_model(GAN, folder)
    assert back.epoch == epoch and len(back.d_losses) == epoch
    back.train(images(64), batch_size=8, epochs=1, run_folder=str(folder), print_every_n_batches=1,
               tensorboard=False)
    assert back.epoch == epoch + 1 and np.isfinite(back.d_losses[-1]).all()


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_trains_data_parallel_with_keras_distribution(probed):
    """Two CPU devices in one process: the batch is split across them, the weights replicated."""
    assert probed[2]["jax"]["data-parallel"] == {"devices": 2, "finite": True, "moved": True,
                                                 "replicated_over": 2, "average_updates": 8.0}
