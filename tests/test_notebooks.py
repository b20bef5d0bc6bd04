"""The chapter notebooks run top to bottom, headless, on offline data (with a shortened schedule)."""

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from utils.loaders import load_silhouettes

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture
def workdir(tmp_path, data_dir, monkeypatch):
    """A project-like folder: run/<section>/ exists as in a fresh clone; data comes from data_dir."""
    for section in ("gan", "wgan", "wgangp"):
        (tmp_path / "run" / section).mkdir(parents=True)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


# Run right after the notebook's imports: the same architecture, a schedule of a few small batches.
SHORT_SCHEDULE = """
import dataclasses as _dataclasses
from utils import presets as _presets

def _short(chapter, recipe="book", _get=_presets.get):
    preset = _get(chapter, recipe)
    model = dict(preset.model)
    # The book's layers, each eight filters wide: the same names and shapes of the stack (the
    # summaries are checked), a fraction of the arithmetic.
    for name, value in list(model.items()):
        if name.endswith("_conv_filters"):
            model[name] = [8] * (len(value) - 1) + [value[-1] if name.startswith("generator") else 8]
    height, width, _ = model["generator_initial_dense_layer_size"]
    model["generator_initial_dense_layer_size"] = (height, width, 8)
    if 'batch_size' in model:  # WGAN-GP's constructor takes the batch size too
        model['batch_size'] = 8
    options = dict(preset.train_options)
    if 'n_critic' in options:
        options['n_critic'] = 2
    return _dataclasses.replace(preset, model=model, train_options=options, batch_size=8, epochs=3,
                                print_every_n_batches=2)

_presets.get = _short

# Score quality at every step whatever it costs (the time budget is tested in test_quality.py),
# and stand in for InceptionV3 (no download in tests).
import keras as _keras
from utils.evaluation import features as _features, quality as _quality

def _stand_in_inception(**options):
    inputs = _keras.Input((16, 16, 3))
    pooled = _keras.layers.GlobalAveragePooling2D()(_keras.layers.Conv2D(8, 3, kernel_initializer=_keras.initializers.GlorotUniform(seed=0))(inputs))
    return _features.KerasFeatures(_keras.Model(inputs, pooled), name="stand-in", progress=False)

_features.inception_features = _stand_in_inception
_monitor_for_run = _quality.monitor_for_run
_quality.monitor_for_run = lambda *args, **kwargs: _monitor_for_run(
    *args, **{**kwargs, "every": 1, "n_train": 500, "n_held_out": 200})
_quality.QualityMonitor.maybe_score = _quality.QualityMonitor.score

# Evaluate on hundreds of images rather than thousands: the notebooks' evaluation sections run as
# printed, and the measures themselves are tested in test_measures.py and test_evaluate.py.
import inspect as _inspect
from utils.evaluation import report as _report
_smaller = {"n_samples": 100, "n_reference": 500, "n_held_out": 200}
_names = list(_inspect.signature(_report.evaluate_run).parameters)[-len(_report.evaluate_run.__defaults__):]
_report.evaluate_run.__defaults__ = tuple(_smaller.get(name, value) for name, value in
                                          zip(_names, _report.evaluate_run.__defaults__))
_report.ARITHMETIC_SAMPLES = 600  # the class means of latent arithmetic: tested in test_latent.py
"""


def execute(name, workdir):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    first_code = next(k for k, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells.insert(first_code + 1, nbformat.v4.new_code_cell(SHORT_SCHEDULE))
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return notebook


def assert_evaluated(run, text):
    """The evaluation section ran: scores while training, the report, the loss-quality correlation."""
    quality = json.loads((run / "quality.json").read_text())
    assert [r["epoch"] for r in quality["records"]] == [1, 2, 3]
    for name in ("metrics.json", "summary.html", "closest_pairs.png", "interpolation_spherical.png",
                 "loss_vs_quality.png"):
        assert (run / "eval" / name).exists()
    assert "against FID over 3 scores: Spearman" in text
    assert "held-out" in text and "fid" in text  # the printed table


def outputs_text(notebook):
    return "\n".join(
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )


def test_04_01_gan_camel(workdir, data_dir):
    # Real drawings stand in for the camels: silhouettes in Quick, Draw!'s uint8 (N, 784) layout.
    horses, _ = load_silhouettes("horse")
    pixels = np.round((horses[:300, :, :, 0] + 1) * 127.5).astype(np.uint8).reshape(300, 784)
    (data_dir / "camel").mkdir()
    np.save(data_dir / "camel" / "full_numpy_bitmap_camel.npy", pixels)

    notebook = execute("04_01_gan_camel_train.ipynb", workdir)

    run = workdir / "run" / "gan" / "0001_camel"
    assert (run / "params.pkl").exists() and (run / "weights" / "weights.weights.h5").exists()
    assert (run / "images" / "sample_3.png").exists()  # the grid shown after training
    text = outputs_text(notebook)
    assert "(300, 28, 28, 1)" in text  # x_train.shape
    assert "discriminator_conv_0" in text and "generator_conv_3" in text  # summaries
    images = [o for c in notebook.cells for o in getattr(c, "outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # the drawing, the final grid, the loss and accuracy plots
    assert_evaluated(run, text)


def write_cifar10_folder(folder, images, labels):
    """A CIFAR-10 python folder as the archive holds it: pickled dicts of uint8 rows (3·32·32, CHW)."""
    import pickle

    folder.mkdir(parents=True)
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3 * 32 * 32)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, part in zip(names, np.array_split(np.arange(len(rows)), len(names))):
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in labels[part]],
                 b"data": rows[part], b"filenames": [f"{k}.png".encode() for k in part]}
        # Protocol >= 3: Keras' restricted unpickler refuses protocol 2's bytes encoding.
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))


def silhouette_pixels(classes, image_size):
    """Real images in uint8 RGB (N, size, size, 3)."""
    images, labels = load_silhouettes(classes, image_size=image_size, channels=3)
    return np.round((images + 1) * 127.5).clip(0, 255).astype(np.uint8), labels


def test_04_02_wgan_cifar_horses(workdir, data_dir):
    # Real pictures stand in for CIFAR-10: 160 horse silhouettes with CIFAR's horse label (7), among other
    # animals with other labels, shuffled across the five training batches and the test batch.
    # (160, not fewer: the book's notebook shows x_train[150].)
    horses, _ = silhouette_pixels("horse", 32)
    others, _ = silhouette_pixels(["cat", "dog", "cow"], 32)
    images = np.concatenate([horses[:160], others[::100][:30]])
    labels = np.concatenate([np.full(160, 7), np.arange(30) % 7])  # labels 0-6
    order = np.random.default_rng(0).permutation(len(images))
    write_cifar10_folder(data_dir / "cifar-10-batches-py", images[order], labels[order])

    notebook = execute("04_02_wgan_cifar_train.ipynb", workdir)

    run = workdir / "run" / "wgan" / "0002_horses"
    assert (run / "params.pkl").exists() and (run / "weights" / "weights.weights.h5").exists()
    assert (run / "images" / "sample_3.png").exists()  # the grid shown after training
    for name in ("real.png", "memorisation_samples.png", "memorisation_nearest.png"):
        assert (run / "images" / name).exists()
    text = outputs_text(notebook)
    assert "(160, 32, 32, 3)" in text  # x_train.shape: the horses only
    assert "critic_conv_0" in text and "generator_conv_3" in text  # summaries
    images_shown = [o for c in notebook.cells for o in getattr(c, "outputs", [])
                    if "image/png" in o.get("data", {})]
    assert len(images_shown) >= 5  # a horse, the final grid, the losses, real horses, the check
    assert_evaluated(run, text)


def test_04_03_wgangp_celeb_faces(workdir, data_dir):
    from PIL import Image

    # Real pictures stand in for CelebA: 40 JPEGs where the book's faces go.
    faces = data_dir / "celeb" / "img_align_celeba"
    faces.mkdir(parents=True)
    pictures, _ = silhouette_pixels(["horse", "cat"], 64)
    for k, picture in enumerate(pictures[::50][:40]):
        Image.fromarray(picture, mode="RGB").save(faces / f"{k + 1:06d}.jpg", quality=90)

    notebook = execute("04_03_wgangp_faces_train.ipynb", workdir)

    run = workdir / "run" / "wgangp" / "0001_celeb"
    assert (run / "params.pkl").exists() and (run / "weights" / "weights.weights.h5").exists()
    assert (run / "images" / "sample_3.png").exists()
    text = outputs_text(notebook)
    assert "40 images, batches of 8" in text  # the stream, with the smoke schedule's batch size
    assert "dtype=float32" in text  # x_train[0][0][0], an array as in the book
    assert "critic_conv_0" in text and "generator_conv_3" in text
    images_shown = [o for c in notebook.cells for o in getattr(c, "outputs", [])
                    if "image/png" in o.get("data", {})]
    assert len(images_shown) >= 3  # a face, the final grid, the losses
    assert_evaluated(run, text)


def test_04_04_controllable_gans(workdir):
    notebook = execute("04_04_cgan_silhouettes.ipynb", workdir)
    text = outputs_text(notebook)
    cgan_run = workdir / "run" / "cgan" / "0001_silhouettes-all"
    assert (cgan_run / "images" / "sample_3.png").exists()
    assert (cgan_run / "eval" / "class_control.png").exists()
    assert "asked-for class drawn" in text  # the per-class figures in the printed table
    assert "held-out real images (the ceiling)" in text
    cgan_options = json.loads((cgan_run / "run.json").read_text())["options"]
    assert cgan_options["matching_aware"] is True  # the preset's option reached the model
    info_run = workdir / "run" / "infogan" / "0001_silhouettes-all"
    info_metrics = json.loads((info_run / "eval" / "metrics.json").read_text())
    assert 0.0 <= info_metrics["code_match"]["nmi"] <= 1.0
    assert "categorical code vs animal" in text
    for run_id in ("0101", "0102"):
        assert (workdir / "run" / "gan" / f"{run_id}_silhouettes-horse" / "eval" / "metrics.json").exists()
    book = json.loads((workdir / "run" / "gan" / "0102_silhouettes-horse" / "run.json").read_text())
    assert book["options"]["label_smoothing"] == 0.1
    assert "measure" in text and "hacks" in text and "held-out" in text  # the comparison table


def test_04_05_modern_recipe(workdir):
    from utils import presets

    notebook = execute("04_05_modern_recipe.ipynb", workdir)
    text = outputs_text(notebook)
    runs = {name: workdir / "run" / "gan" / f"{run_id}_silhouettes-horse"
            for run_id, name in (("0201", "book"), ("0202", "modern"))}
    options = {name: json.loads((folder / "run.json").read_text())["options"] for name, folder in runs.items()}
    modern = presets.get("04_01", recipe="modern").model_options
    assert all(options["modern"][key] == value for key, value in modern.items())  # the recipe reached the model
    assert all(options["book"][key] == value for key, value in presets.GAN_CAMEL.model_options.items())
    assert options["book"]["ema"] == 0 and not options["book"]["augment"]
    for folder in runs.values():
        assert json.loads((folder / "quality.json").read_text())["records"]
    assert (workdir / "run" / "gan" / "book_vs_modern.png").exists()
    assert "recipe" in text and "modern" in text and "held-out real horses" in text
