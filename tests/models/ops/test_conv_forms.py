"""Each convolution layer's form, chosen by measurement (models/ops/conv_forms.py).

Forced forms show in the traced graph and compute the same; the measurement
(with a fake timer) picks the fastest, keeps Keras' own form on a near-tie, and
caches its decision in the Keras folder under the stated key; the cache is
re-measured when the device, TensorFlow or the file format differ, or the file
is damaged; the chosen form never shows in weights, summaries or configs; and
one real measurement runs.
"""

import contextlib
import json
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import networks
from models.ops import conv_forms, fast_conv, subpixel
from utils import presets
from tiny import assert_close

# Each kind of layer, Keras' own class for it, and the shape of a tiny input.  The
# upsample-conv takes an upsampled image: its input here goes through UpSampling2D first.
KINDS = {
    "conv": (fast_conv.Conv2D, keras.layers.Conv2D, dict(filters=8, kernel_size=3, strides=2), (2, 8, 8, 4)),
    "transpose": (fast_conv.Conv2DTranspose, keras.layers.Conv2DTranspose,
                  dict(filters=4, kernel_size=5, strides=2), (2, 4, 5, 8)),
    "upsample-conv": (subpixel.Conv2D, keras.layers.Conv2D, dict(filters=4, kernel_size=5), (2, 4, 3, 6)),
}


def layer_input_shape(kind):
    _, h, w, c = KINDS[kind][3]
    return (None, 2 * h, 2 * w, c) if kind == "upsample-conv" else (None, h, w, c)


def build(kind, name=None, layer_class=None):
    default_class, _, args, _ = KINDS[kind]
    layer = (layer_class or default_class)(padding="same", name=name, **args)
    layer.build(layer_input_shape(kind))
    return layer


def forward(layer, kind, x):
    """The layer on ``x``, after the upsampling for the upsample-conv."""
    return layer(keras.layers.UpSampling2D()(x) if kind == "upsample-conv" else x)


def graph_ops(layer, kind):
    """The op types of the layer's forward pass and input gradient, traced."""
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = forward(layer, kind, x)
        return tape.gradient(y, x)

    spec = tf.TensorSpec(KINDS[kind][3], tf.float32)
    return {op.type for op in tf.function(run).get_concrete_function(spec).graph.get_operations()}


def value_and_grads(layer, kind, x):
    """Output, and the gradients of a random linear loss w.r.t. ``x`` and the weights."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = forward(layer, kind, x)
        probe = tf.constant(np.random.default_rng(1).normal(size=y.shape), tf.float32)
        loss = tf.reduce_sum(y * probe)
    return [y] + tape.gradient(loss, [x] + layer.trainable_weights)


# Where each forced form leaves its mark in the graph.
MARKS = {  # kind: (op present only with keras, op present only with fast, or None)
    "conv": ("Conv2DBackpropInput", None),
    "transpose": ("Conv2DBackpropInput", None),
    "upsample-conv": ("Conv2DBackpropInput", "DepthToSpace"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["environment", "forced"])
def test_forced_forms_show_in_the_graph_and_compute_the_same(kind, how, monkeypatch):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=KINDS[kind][3]), tf.float32)
    results, weights = [], None
    for form in ("keras", "fast"):
        if how == "environment":
            monkeypatch.setenv("GDL_CONV_FORM", form)
            scope = contextlib.nullcontext()
        else:  # the context wins over the environment
            monkeypatch.setenv("GDL_CONV_FORM", "fast" if form == "keras" else "keras")
            scope = conv_forms.forced(form)
        with scope:
            layer = build(kind)
        assert layer.conv_form == (layer.fast_form if form == "fast" else "keras")
        weights = weights or [rng.normal(scale=0.1, size=w.shape).astype("float32") for w in layer.get_weights()]
        layer.set_weights(weights)
        ops = graph_ops(layer, kind)
        keras_mark, fast_mark = MARKS[kind]
        assert (keras_mark in ops) == (form == "keras"), (form, sorted(ops))
        if fast_mark:
            assert (fast_mark in ops) == (form == "fast"), (form, sorted(ops))
        results.append(value_and_grads(layer, kind, x))
    for expected, actual in zip(*results):
        assert_close(expected, actual)


@pytest.mark.parametrize("kind", KINDS)
def test_every_candidate_computes_what_keras_computes(kind):
    plain = build(kind, layer_class=KINDS[kind][1])
    layer = build(kind)
    plain.set_weights([np.random.default_rng(2).normal(scale=0.1, size=w.shape).astype("float32")
                       for w in plain.get_weights()])
    layer.set_weights(plain.get_weights())
    x = tf.constant(np.random.default_rng(3).normal(size=KINDS[kind][3]), tf.float32)
    expected = value_and_grads(plain, kind, x)
    for form in layer.form_candidates:
        layer.conv_form = form
        for e, a in zip(expected, value_and_grads(layer, kind, x)):
            assert_close(e, a)


def test_subpixel_forms_in_the_graph():
    layer = build("upsample-conv")
    for form, present, absent in [("fast", {"Conv2D"}, {"DepthToSpace", "Conv2DBackpropInput"}),
                                  ("subpixel-keras-gradient", {"DepthToSpace", "Conv2DBackpropInput"}, set())]:
        layer.conv_form = form
        ops = graph_ops(layer, "upsample-conv")
        assert present <= ops and not absent & ops, (form, sorted(ops))


# -- measuring, with a fake timer ----------------------------------------------------------


class FakeTimer:
    """Stands in for conv_forms.time_forms: says ``seconds[form]`` (1.0 if not set), counts calls."""

    def __init__(self):
        self.seconds = {}
        self.calls = []

    def __call__(self, runners, budget_s=None):
        self.calls.append(tuple(runners))
        return {form: self.seconds.get(form, 1.0) for form in runners}


@pytest.fixture
def timer(tmp_path, monkeypatch):
    """GDL_CONV_FORM=measure, an empty Keras folder, nothing remembered, and a fake timer."""
    monkeypatch.setenv("GDL_CONV_FORM", "measure")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(conv_forms, "FALLBACK_KERAS_HOME", str(tmp_path / "fallback"))
    monkeypatch.setattr(conv_forms, "_memory", {})
    monkeypatch.setattr(conv_forms, "_decisions", [])
    fake = FakeTimer()
    monkeypatch.setattr(conv_forms, "time_forms", fake)
    return fake


def cache(tmp_path, home="keras"):
    return json.loads((tmp_path / home / "gdl" / "conv_forms.json").read_text())


@pytest.mark.parametrize("kind, seconds, expected", [
    ("conv", {"keras": 1.0, "fast": 0.5}, "fast"),
    ("conv", {"keras": 0.5, "fast": 1.0}, "keras"),
    ("conv", {"keras": 1.0, "fast": 0.98}, "keras"),   # within 3%: Keras' own wins the tie
    ("conv", {"keras": 1.0, "fast": 0.96}, "fast"),
    ("transpose", {"keras": 1.0, "fast": 0.7}, "fast"),
    ("upsample-conv", {"keras": 1.0, "fast": 0.9, "subpixel": 0.5, "subpixel-keras-gradient": 0.6}, "subpixel"),
    ("upsample-conv", {"keras": 1.0, "fast": 0.9, "subpixel": 0.6, "subpixel-keras-gradient": 0.4},
     "subpixel-keras-gradient"),
    ("upsample-conv", {"keras": 1.0, "fast": 0.99, "subpixel": 0.98, "subpixel-keras-gradient": 0.975}, "keras"),
    # A form that failed here (None) is never chosen, Keras' own included.
    ("conv", {"keras": 1.0, "fast": None}, "keras"),
    ("conv", {"keras": None, "fast": 1.02}, "fast"),
    ("upsample-conv", {"keras": None, "fast": None, "subpixel": 0.9, "subpixel-keras-gradient": 0.8},
     "subpixel-keras-gradient"),
])
def test_measuring_picks_the_fastest_and_keras_on_a_near_tie(timer, kind, seconds, expected):
    timer.seconds = seconds
    assert build(kind).conv_form == expected
    assert len(timer.calls) == 1 and set(timer.calls[0]) == set(seconds)


def test_the_decision_is_cached_under_the_stated_key(timer, tmp_path):
    timer.seconds = {"keras": 0.002, "fast": 0.001}
    build("conv", name="first")
    data = cache(tmp_path)
    assert data["format"] == conv_forms.FORMAT_VERSION
    [(key, entry)] = data["entries"].items()
    for part in (f"device={conv_forms.device()}", f"tensorflow={tf.__version__}", "layer=fast_conv.Conv2D",
                 "dtype=float32", "batch=64", "input=8x8x4", "filters=8", "kernel=3x3", "strides=2x2",
                 "padding=same"):
        assert part in key.split("; "), (part, key)
    assert entry == {"form": "fast", "ms": {"keras": 2.0, "fast": 1.0}}

    # The same layer again in this process, then in a "new process" (nothing in memory): no timing.
    assert build("conv", name="second").conv_form == "fast"
    conv_forms._memory.clear()
    assert build("conv", name="third").conv_form == "fast"
    assert len(timer.calls) == 1
    assert [(d["layer"], d["form"], d["source"]) for d in conv_forms.decisions()] == [
        ("first", "fast", "measured"), ("second", "fast", "this process"), ("third", "fast", "cache file")]
    assert conv_forms.decisions()[2]["ms"] == {"keras": 2.0, "fast": 1.0}
    assert conv_forms.decisions()[0]["signature"] == dict(
        layer="fast_conv.Conv2D", dtype="float32", batch=64, input=[8, 8, 4], filters=8, kernel=[3, 3],
        strides=[2, 2], padding="same")


def test_mixed_precision_measures_in_bfloat16(timer, tmp_path):
    layer = fast_conv.Conv2D(8, 3, padding="same", dtype="mixed_bfloat16")
    layer.build((None, 8, 8, 4))
    [key] = cache(tmp_path)["entries"]
    assert "dtype=bfloat16" in key.split("; ")


@pytest.mark.parametrize("change", ["backend version", "device", "format"])
def test_the_cache_is_measured_again_when_its_key_or_format_differs(timer, tmp_path, monkeypatch, change):
    build("conv")
    assert len(timer.calls) == 1
    conv_forms._memory.clear()
    if change == "backend version":
        monkeypatch.setattr(conv_forms, "backend_version", lambda: "9.99.0")
    elif change == "device":
        monkeypatch.setattr(conv_forms, "device", lambda: "Another CPU (avx2 fma)")
    else:
        monkeypatch.setattr(conv_forms, "FORMAT_VERSION", conv_forms.FORMAT_VERSION + 1)
    build("conv")
    assert len(timer.calls) == 2
    entries = cache(tmp_path)["entries"]
    # Another key joins the file; another format version replaces it.
    assert len(entries) == (1 if change == "format" else 2)


def test_entries_are_merged_with_what_another_process_wrote(timer, tmp_path):
    build("conv")
    path = tmp_path / "keras" / "gdl" / "conv_forms.json"
    data = json.loads(path.read_text())
    data["entries"]["written by another process"] = {"form": "keras", "ms": {"keras": 1.0, "fast": 2.0}}
    path.write_text(json.dumps(data))
    build("transpose")
    assert len(cache(tmp_path)["entries"]) == 3
    assert not [name for name in os.listdir(path.parent) if name != "conv_forms.json"]  # no temp files left


def test_a_damaged_cache_warns_and_is_measured_again(timer, tmp_path):
    path = tmp_path / "keras" / "gdl" / "conv_forms.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "entries": {"half a')
    with pytest.warns(UserWarning, match="damaged convolution-form cache " + re.escape(str(path))):
        layer = build("conv")
    assert layer.conv_form == "keras" and len(timer.calls) == 1
    assert len(cache(tmp_path)["entries"]) == 1  # rewritten whole


def test_an_unwritable_keras_folder_falls_back_to_tmp(timer, tmp_path, monkeypatch):
    (tmp_path / "not_a_folder").write_text("")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "not_a_folder"))
    assert conv_forms.cache_path() == str(tmp_path / "fallback" / "gdl" / "conv_forms.json")
    build("conv")
    assert len(cache(tmp_path, home="fallback")["entries"]) == 1


def test_the_default_keras_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert conv_forms.cache_path() == str(tmp_path / ".keras" / "gdl" / "conv_forms.json")


def test_a_gpu_is_named_in_the_key(monkeypatch):
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: ["/physical_device:GPU:0"] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda device: {"device_name": "NVIDIA H200"})
    assert conv_forms.device() == "GPU NVIDIA H200"


def test_a_bad_setting_is_refused_naming_it(monkeypatch):
    monkeypatch.setenv("GDL_CONV_FORM", "fastest")
    with pytest.raises(ValueError, match=r"GDL_CONV_FORM='fastest'.*measure, keras, fast"):
        build("conv")
    with pytest.raises(ValueError, match="measure, keras, fast"):
        with conv_forms.forced("slow"):
            pass


def test_an_unknown_input_size_is_not_measured(timer):
    layer = fast_conv.Conv2D(4, 3, padding="same")
    layer.build((None, None, None, 3))
    assert layer.conv_form == "keras" and not timer.calls


# -- the form never shows ------------------------------------------------------------------


def camel_networks():
    # The same automatic layer names every time; no garbage collection (slow on a full heap).
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    m = presets.GAN_CAMEL.model
    generator = networks.build_generator(
        m["z_dim"], m["generator_initial_dense_layer_size"], m["generator_upsample"],
        m["generator_conv_filters"], m["generator_conv_kernel_size"], m["generator_conv_strides"],
        m["generator_batch_norm_momentum"], m["generator_activation"], m["generator_dropout_rate"])
    adversary = networks.build_discriminator(
        m["input_dim"], m["discriminator_conv_filters"], m["discriminator_conv_kernel_size"],
        m["discriminator_conv_strides"], None, "relu", None, "sigmoid")
    return generator, adversary


def describe(network, folder, name):
    lines = []
    network.summary(print_fn=lambda line, **kwargs: lines.append(line), line_length=120)
    path = os.path.join(folder, f"{name}.weights.h5")
    network.save_weights(path)
    import h5py

    with h5py.File(path, "r") as f:
        stored = []
        f.visititems(lambda key, obj: stored.append((key, getattr(obj, "shape", None))))
    return dict(summary="\n".join(lines), params=network.count_params(),
                weights=[(w.path, tuple(w.shape)) for w in network.weights],
                configs=[layer.get_config() for layer in network.layers], stored=sorted(stored))


def test_weights_summaries_and_configs_do_not_depend_on_the_form(timer, tmp_path):
    seen = []
    for setting in ("keras", "fast", "measure"):
        timer.seconds = {"keras": 1.0, "fast": 0.5, "subpixel-keras-gradient": 0.2}
        with conv_forms.forced(setting):
            networks_built = camel_networks()
        forms = {layer.conv_form for network in networks_built for layer in network.layers
                 if hasattr(layer, "conv_form")}
        assert forms == {"keras": {"keras"}, "fast": {"fast", "subpixel"},
                         "measure": {"fast", "subpixel-keras-gradient"}}[setting]
        seen.append([describe(network, tmp_path, f"{setting}_{network.name}") for network in networks_built])
    assert seen[0] == seen[1] == seen[2]
    assert "conv_form" not in json.dumps(seen[0][0]["configs"], default=str)


# -- a real measurement ------------------------------------------------------------------


def test_a_real_measurement_completes_inside_a_trace(tmp_path, monkeypatch):
    """Built on its first call inside tf.function: the timing runs eagerly all the same."""
    monkeypatch.setenv("GDL_CONV_FORM", "measure")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(conv_forms, "_memory", {})
    monkeypatch.setattr(conv_forms, "LAYER_BUDGET_S", 0.0)
    layer = subpixel.Conv2D(4, 3, padding="same")
    run = tf.function(lambda x: layer(x))
    assert run(tf.zeros((2, 8, 8, 3))).shape == (2, 8, 8, 4)
    assert layer.conv_form in layer.form_candidates
    decision = conv_forms.decisions()[-1]
    assert decision["source"] == "measured" and decision["form"] == layer.conv_form
    assert set(decision["ms"]) == set(layer.form_candidates) and all(ms > 0 for ms in decision["ms"].values())


def test_rounds_run_in_turns_within_the_budget(monkeypatch):
    now = [0.0]
    calls = []
    durations = {"keras": iter([5, 3, 4, 2, 9, 9]), "fast": iter([5, 4, 1, 6, 9, 9])}

    def runner(form):
        def run():
            calls.append(form)
            now[0] += next(durations[form])
        return run

    monkeypatch.setattr(conv_forms, "_clock", lambda: now[0])
    monkeypatch.setattr(conv_forms, "MIN_ROUNDS", 3)
    seconds = conv_forms.time_forms({"keras": runner("keras"), "fast": runner("fast")}, budget_s=0)
    # A warm-up call each, then three rounds in turns; the fastest timed reading counts.
    assert calls == ["keras", "fast"] * 4
    assert seconds == {"keras": 2, "fast": 1}
    calls.clear()
    monkeypatch.setattr(conv_forms, "MAX_ROUNDS", 5)
    conv_forms.time_forms({"keras": lambda: calls.append(0)}, budget_s=1e9)
    assert len(calls) == 1 + 5


def test_a_form_that_fails_here_reads_none_and_all_failing_raises(monkeypatch):
    """A backend may lack a kernel for a dtype on a device (PyTorch's CPU float16 convolution
    gradient with one output channel): that form is left out, the others are timed."""
    calls = []

    def broken():
        calls.append("broken")
        raise RuntimeError("slow_conv2d: grad_weight must be contiguous")

    monkeypatch.setattr(conv_forms, "MAX_ROUNDS", 3)
    monkeypatch.setattr(conv_forms, "_warned", set())
    with pytest.warns(UserWarning, match="'keras' convolution form failed on this machine.*grad_weight"):
        seconds = conv_forms.time_forms({"keras": broken, "fast": lambda: calls.append("fast")}, budget_s=0)
    assert seconds["keras"] is None and seconds["fast"] >= 0
    assert calls == ["broken"] + ["fast"] * 4  # tried once, never timed
    with pytest.raises(RuntimeError, match="grad_weight must be contiguous"):
        conv_forms.time_forms({"keras": broken, "fast": broken})
