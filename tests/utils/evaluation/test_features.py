"""Tests of utils.evaluation.features: feature extractors and their pretrained weights.

Nothing here uses the network: weights are served by a local HTTP server on
127.0.0.1 (conftest.http_server), and "offline" is a closed port there
(conftest.dead_url).  The pretrained path is exercised with a small stand-in
network built by a function with InceptionV3's signature.
"""

import hashlib
import inspect
import re
import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from utils.evaluation import features
from utils.evaluation.features import (
    INCEPTION_V3,
    FeatureWeightsUnavailable,
    KerasFeatures,
    PretrainedWeights,
    features_for,
    fetch_weights,
    inception_features,
    weights_path,
)

def images(n, size, channels, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, size, size, channels)).astype(np.float32)


def channel_means_model(size=16, channels=3):
    """Per-image, per-channel means: shows what colour the model received."""
    inputs = keras.Input((size, size, channels))
    return keras.Model(inputs, layers.GlobalAveragePooling2D()(inputs), name="means")


def identity_model(size=16, channels=3):
    """Flattened pixels: shows exactly what the model received."""
    inputs = keras.Input((size, size, channels))
    return keras.Model(inputs, layers.Flatten()(inputs), name="pixels")


def resized(x, size, antialias=True):
    return tf.image.resize(x, (size, size), method="bilinear", antialias=antialias).numpy()


# ---------------------------------------------------------------------------
# KerasFeatures
# ---------------------------------------------------------------------------


def test_protocol_shape_dtype_name_description():
    extractor = KerasFeatures(channel_means_model(), name="means16")
    out = extractor(images(5, 16, 3))
    assert out.shape == (5, 3) and out.dtype == np.float32
    assert extractor.name == "means16"
    assert isinstance(extractor.description, str) and "\n" not in extractor.description
    assert "16x16" in extractor.description and "antialias" in extractor.description
    assert KerasFeatures(channel_means_model()).name == "means"  # default: the model's name


def test_features_match_the_model_on_same_size_images():
    x = images(4, 16, 3)
    out = KerasFeatures(identity_model())(x)
    np.testing.assert_allclose(out, x.reshape(4, -1), rtol=0, atol=1e-6)


def test_gray_images_are_repeated_to_rgb():
    x = images(4, 16, 1)
    out = KerasFeatures(channel_means_model(channels=3))(x)
    assert out.shape == (4, 3)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    np.testing.assert_array_equal(out[:, 0], out[:, 2])
    np.testing.assert_allclose(out[:, 0], x.mean(axis=(1, 2, 3)), atol=1e-6)


def test_rgb_images_are_averaged_for_a_gray_model():
    x = images(3, 16, 3)
    out = KerasFeatures(identity_model(channels=1))(x)
    np.testing.assert_allclose(out, x.mean(axis=-1).reshape(3, -1), atol=1e-6)


def test_images_are_resized_bilinear_with_antialias():
    x = images(3, 28, 3)
    out = KerasFeatures(identity_model(16))(x)
    expected = resized(x, 16).reshape(3, -1)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # Downsampling 28 -> 16 without antialias gives something else.
    assert np.abs(out - resized(x, 16, antialias=False).reshape(3, -1)).max() > 1e-2


def test_gray_images_resized_and_repeated():
    x = images(3, 28, 1)
    out = KerasFeatures(identity_model(16, 3))(x).reshape(3, 16, 16, 3)
    expected = np.repeat(resized(x, 16), 3, axis=-1)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_model_with_unknown_size_gets_images_at_their_own_size():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, layers.GlobalAveragePooling2D()(inputs))
    x = images(2, 28, 3)
    extractor = KerasFeatures(model)
    np.testing.assert_allclose(extractor(x), x.mean(axis=(1, 2)), atol=1e-6)
    assert "own size" in extractor.description


def test_batches_give_the_same_result_and_are_never_larger_than_batch_size(monkeypatch):
    x = images(10, 28, 3)
    whole = KerasFeatures(identity_model(16), batch_size=100)(x)

    seen = []
    resize = tf.image.resize

    def spy(batch, *args, **kwargs):
        seen.append(int(batch.shape[0]))
        return resize(batch, *args, **kwargs)

    monkeypatch.setattr(tf.image, "resize", spy)
    parts = KerasFeatures(identity_model(16), batch_size=3)(x)
    np.testing.assert_allclose(parts, whole, atol=1e-6)
    assert seen == [3, 3, 3, 1]


def test_preprocess_is_applied_after_resizing():
    seen = []

    def preprocess(batch):
        seen.append(tuple(batch.shape))
        return batch * 0.5 + 0.25

    x = images(4, 28, 1)
    out = KerasFeatures(identity_model(16), preprocess=preprocess, batch_size=2)(x)
    expected = np.repeat(resized(x, 16), 3, axis=-1) * 0.5 + 0.25
    np.testing.assert_allclose(out, expected.reshape(4, -1), atol=1e-5)
    assert seen == [(2, 16, 16, 3), (2, 16, 16, 3)]


def test_model_is_called_with_training_false():
    class Mode(layers.Layer):
        def call(self, x, training=None):
            return tf.fill(tf.shape(x)[:1], 1.0 if training else 0.0)[:, None]

    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, Mode()(inputs))
    assert KerasFeatures(model)(images(2, 16, 3)).tolist() == [[0.0], [0.0]]


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.zeros((4, 16, 16), np.float32), "rank 3"),
        (np.zeros((4, 16, 16, 2), np.float32), "2 channels"),
        (np.zeros((0, 16, 16, 3), np.float32), "no images"),
    ],
)
def test_bad_images_are_refused(bad, words):
    with pytest.raises(ValueError, match=words):
        KerasFeatures(channel_means_model())(bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_images_are_refused(value):
    x = images(3, 16, 3)
    x[1, 2, 3, 0] = value
    with pytest.raises(ValueError, match="NaN or infinite"):
        KerasFeatures(channel_means_model())(x)


def test_model_without_single_image_input_is_refused():
    inputs = keras.Input((10,))
    with pytest.raises(ValueError, match="not images"):
        KerasFeatures(keras.Model(inputs, layers.Dense(2)(inputs)))


def test_progress_bar(capsys):
    KerasFeatures(channel_means_model(), progress=True, batch_size=2)(images(5, 16, 3))
    assert "5/5" in capsys.readouterr().out
    KerasFeatures(channel_means_model(), progress=False, batch_size=2)(images(5, 16, 3))
    assert capsys.readouterr().out == ""


def test_automatic_progress_bar_for_slow_calls(capsys, monkeypatch):
    KerasFeatures(channel_means_model(), batch_size=2)(images(5, 16, 3))
    assert capsys.readouterr().out == ""  # fast: no bar
    monkeypatch.setattr(features, "AUTO_PROGRESS_SECONDS", 0.0)
    KerasFeatures(channel_means_model(), batch_size=2)(images(5, 16, 3))
    assert "5/5" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# Pretrained weights with a stand-in network
# ---------------------------------------------------------------------------


def stand_in(include_top=True, weights="imagenet", input_shape=None, pooling=None):
    """A tiny network built like keras.applications.InceptionV3, loading weights=path."""
    assert include_top is False and pooling == "avg"
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(5, 3, name="conv")(inputs)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, x, name="stand_in")
    if weights is not None:
        model.load_weights(weights)
    return model


FILE = "stand_in.weights.h5"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def served(http_server, monkeypatch):
    """Stand-in weights with random values, served over HTTP; returns (server, weights)."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    model = stand_in(False, None, (12, 12, 3), "avg")
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    model.save_weights(http_server.root / FILE)
    weights = PretrainedWeights(
        file_name=FILE,
        url=http_server.url + FILE,
        file_hash=sha256(http_server.root / FILE),
        env_var="GDL_TEST_FEATURE_WEIGHTS_URL",
    )
    monkeypatch.delenv(weights.env_var, raising=False)
    return http_server, weights


def test_weights_are_downloaded_once_then_cached(served, tmp_path):
    server, weights = served
    cache = tmp_path / "cache"  # does not exist yet
    extractor = inception_features(cache_dir=cache, builder=stand_in, weights=weights,
                                   input_size=12, progress=False)
    assert server.requests == ["/" + FILE]
    assert (cache / "models" / FILE).is_file()
    assert extractor.name == "inception-v3-pool3"
    assert "12x12" in extractor.description and "antialias" in extractor.description

    x = images(4, 28, 1)
    reference = stand_in(False, str(server.root / FILE), (12, 12, 3), "avg")
    expected = reference(np.repeat(resized(x, 12), 3, axis=-1), training=False).numpy()
    np.testing.assert_allclose(extractor(x), expected, rtol=1e-5, atol=1e-5)

    again = inception_features(cache_dir=cache, builder=stand_in, weights=weights,
                               input_size=12, progress=False)
    assert server.requests == ["/" + FILE]  # no new GET: the cache was used
    np.testing.assert_allclose(again(x), expected, rtol=1e-5, atol=1e-5)


def test_md5_hashes_are_accepted(served, tmp_path):
    server, weights = served
    md5 = hashlib.md5((server.root / FILE).read_bytes()).hexdigest()
    weights = PretrainedWeights(FILE, weights.url, md5, weights.env_var)
    path = fetch_weights(weights, cache_dir=tmp_path / "cache")
    assert sha256(tmp_path / "cache" / "models" / FILE) == sha256(server.root / FILE)
    assert path == str(tmp_path / "cache" / "models" / FILE)


@pytest.mark.parametrize("folder", [False, True])
def test_env_var_overrides_the_url(served, dead_url, tmp_path, monkeypatch, folder):
    server, weights = served
    weights = PretrainedWeights(FILE, dead_url + FILE, weights.file_hash, weights.env_var)
    monkeypatch.setenv(weights.env_var, server.url if folder else server.url + FILE)
    path = fetch_weights(weights, cache_dir=tmp_path / "cache")
    assert server.requests == ["/" + FILE]
    assert sha256(tmp_path / "cache" / "models" / FILE) == weights.file_hash
    assert path.endswith(FILE)


def test_offline_and_not_cached(served, dead_url, tmp_path):
    _, weights = served
    weights = PretrainedWeights(FILE, dead_url + FILE, weights.file_hash, weights.env_var)
    cache = tmp_path / "cache"
    with pytest.raises(FeatureWeightsUnavailable) as info:
        inception_features(cache_dir=cache, builder=stand_in, weights=weights, input_size=12)
    message = str(info.value)
    expected_path = cache / "models" / FILE
    assert str(expected_path) in message
    assert weights.file_hash in message
    assert weights.env_var in message
    assert dead_url + FILE in message
    assert isinstance(info.value, OSError)
    assert info.value.path == expected_path
    assert not expected_path.exists()


def test_offline_but_cached(served, dead_url, tmp_path):
    server, weights = served
    cache = tmp_path / "cache"
    fetch_weights(weights, cache_dir=cache)
    offline = PretrainedWeights(FILE, dead_url + FILE, weights.file_hash, weights.env_var)
    extractor = inception_features(cache_dir=cache, builder=stand_in, weights=offline,
                                   input_size=12, progress=False)
    assert extractor(images(2, 12, 3)).shape == (2, 5)
    assert len(server.requests) == 1


def test_wrong_hash_is_refused_and_nothing_is_kept(served, tmp_path):
    server, weights = served
    wrong = PretrainedWeights(FILE, weights.url, hashlib.sha256(b"other").hexdigest(),
                              weights.env_var)
    cache = tmp_path / "cache"
    target = cache / "models" / FILE
    for attempt in (1, 2):
        with pytest.raises(FeatureWeightsUnavailable, match="hash") as info:
            fetch_weights(wrong, cache_dir=cache)
        assert wrong.file_hash in str(info.value)
        assert not target.exists()  # never left behind to be trusted later
        assert len(server.requests) == attempt  # so each call tries again
    # With the right hash, the same server's file is downloaded and kept.
    fetch_weights(weights, cache_dir=cache)
    assert len(server.requests) == 3 and sha256(target) == weights.file_hash


def test_a_corrupt_cached_file_is_never_trusted(served, dead_url, tmp_path):
    server, weights = served
    cache = tmp_path / "cache"
    target = cache / "models" / FILE
    target.parent.mkdir(parents=True)
    target.write_bytes(b"half a file")
    # Offline: refused, and the bad file is gone.
    offline = PretrainedWeights(FILE, dead_url + FILE, weights.file_hash, weights.env_var)
    with pytest.raises(FeatureWeightsUnavailable):
        fetch_weights(offline, cache_dir=cache)
    assert not target.exists()
    # Online: downloaded again.
    target.write_bytes(b"half a file")
    fetch_weights(weights, cache_dir=cache)
    assert len(server.requests) == 1 and sha256(target) == weights.file_hash


def test_missing_file_on_the_server(served, tmp_path):
    server, weights = served
    missing = PretrainedWeights("nope.h5", server.url + "nope.h5", weights.file_hash)
    with pytest.raises(FeatureWeightsUnavailable, match="404"):
        fetch_weights(missing, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "models" / "nope.h5").exists()


def test_default_cache_dir_is_keras_home():
    from keras.src.backend import config  # the test compares with Keras' own answer

    home = config.keras_home()
    path = weights_path(INCEPTION_V3)
    assert path.name == INCEPTION_V3.file_name and path.parent.name == "models"
    assert str(path).startswith(home) or str(path).startswith("/tmp/.keras")


# ---------------------------------------------------------------------------
# The real InceptionV3 constants (never downloaded)
# ---------------------------------------------------------------------------


def test_inception_constants_match_installed_keras():
    from keras.src.applications import inception_v3

    assert INCEPTION_V3.url == inception_v3.WEIGHTS_PATH_NO_TOP
    assert INCEPTION_V3.url.endswith("/" + INCEPTION_V3.file_name)
    source = inspect.getsource(inception_v3)
    # The get_file call for include_top=False: file name, then its hash.
    call = re.search(
        r'"(inception_v3_weights[^"]*notop\.h5)",\s*WEIGHTS_PATH_NO_TOP,(.*?)file_hash="([0-9a-f]+)"',
        source, re.S)
    assert call is not None
    assert call.group(1) == INCEPTION_V3.file_name
    assert 'cache_subdir="models"' in call.group(2) and INCEPTION_V3.cache_subdir == "models"
    assert call.group(3) == INCEPTION_V3.file_hash
    assert INCEPTION_V3.env_var == "GDL_INCEPTION_URL"


def test_inception_offline_names_the_real_file(dead_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GDL_INCEPTION_URL", dead_url)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with pytest.raises(FeatureWeightsUnavailable) as info:
        inception_features(cache_dir=tmp_path / "keras")
    message = str(info.value)
    assert str(tmp_path / "keras" / "models" / INCEPTION_V3.file_name) in message
    assert INCEPTION_V3.url in message  # where to download it from by hand
    assert dead_url + INCEPTION_V3.file_name in message  # the URL tried
    assert INCEPTION_V3.file_hash in message and "GDL_INCEPTION_URL" in message


# ---------------------------------------------------------------------------
# features_for
# ---------------------------------------------------------------------------


def test_features_for_unknown_lists_the_choices():
    with pytest.raises(ValueError) as info:
        features_for("nonsense")
    message = str(info.value)
    assert "nonsense" in message
    assert "silhouette" in message and "inception" in message and ".keras" in message


def test_features_for_a_saved_keras_model(tmp_path):
    path = tmp_path / "model.keras"
    channel_means_model().save(path)
    extractor = features_for(str(path), classifier="ignored", batch_size=2)
    x = images(3, 16, 1)
    out = extractor(x)
    assert out.shape == (3, 3) and extractor.name == "model" and extractor.batch_size == 2
    np.testing.assert_allclose(out[:, 1], x.mean(axis=(1, 2, 3)), atol=1e-6)
    with pytest.raises(FileNotFoundError):
        features_for(str(tmp_path / "missing.keras"))


def test_features_for_silhouette_uses_the_classifier_module(monkeypatch):
    calls = []

    class SilhouetteFeatures:
        def __init__(self, path=None):
            calls.append(path)

    fake = types.ModuleType("utils.evaluation.classifier")
    fake.SilhouetteFeatures = SilhouetteFeatures
    monkeypatch.setitem(sys.modules, "utils.evaluation.classifier", fake)
    assert isinstance(features_for("silhouette", classifier="c.keras"), SilhouetteFeatures)
    assert isinstance(features_for("silhouette"), SilhouetteFeatures)
    assert calls == ["c.keras", None]


def test_features_for_inception(dead_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GDL_INCEPTION_URL", dead_url)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with pytest.raises(FeatureWeightsUnavailable) as info:
        features_for("inception", cache_dir=tmp_path / "k", classifier=None)
    assert str(tmp_path / "k" / "models") in str(info.value)
