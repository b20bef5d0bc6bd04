"""Choosing each convolution's form by timing it on the machine at hand, with a cache.

This project's convolution layers (``models.ops.fast_conv``, ``models.ops.subpixel``) can
compute the same products in several forms: with Keras' own ops, with the input
gradient as a forward convolution, or (after a ×2 upsampling) on the image before
upsampling.  Which is fastest depends on the machine, the shapes and the dtype, so
a layer times its candidates when it is built and keeps the winner as a plain
Python attribute (``conv_form``): never a weight or a config entry, so weights,
weight files, archives and summaries do not depend on it.

A measurement runs each candidate's forward pass and both gradients (input and
kernel) at the layer's input shape, with ``REFERENCE_BATCH`` images in the layer's
compute dtype, on the default device: one warm-up call each, then rounds in turns
(a change in the machine's speed hits every candidate alike), at least
``MIN_ROUNDS``, more while the layer's ``LAYER_BUDGET_S`` lasts; each candidate's
fastest reading counts.  Keras' own form is kept unless another is faster by more
than ``MIN_GAIN``.

Decisions are remembered in this process and in ``gdl/conv_forms.json`` in the
Keras folder (:func:`cache_path`), keyed by the device, TensorFlow's version and
the layer's signature, so a machine measures each layer once.  The environment
variable ``GDL_CONV_FORM`` (``measure``, ``keras`` or ``fast``) and :func:`forced`
skip the measurement.

A layer taking part has ``form_candidates`` (``"keras"`` first), ``fast_form``
(the form ``fast`` means), ``form_output(inputs, kernel, form)`` (the convolution
without bias and activation) and calls :func:`choose` in ``build``.
"""

import contextlib
import json
import os
import tempfile
import time
import warnings

import numpy as np

from utils.paths import keras_home

__all__ = ["ENV_VARIABLE", "MODES", "cache_path", "choose", "decisions", "forced", "form_of",
           "mode", "time_forms"]

ENV_VARIABLE = "GDL_CONV_FORM"
MODES = ("measure", "keras", "fast")
KERAS = "keras"

REFERENCE_BATCH = 64      # the chapter presets train at 64 or 128 images per update
MIN_GAIN = 0.03           # another form must be this much faster than Keras' own
MIN_ROUNDS = 3
MAX_ROUNDS = 10
LAYER_BUDGET_S = 1.5      # rounds beyond MIN_ROUNDS only while a layer's measurement is under this

FORMAT_VERSION = 1        # of the cache file; bump it when the candidates or the measurement change
CACHE_FILE = os.path.join("gdl", "conv_forms.json")
FALLBACK_KERAS_HOME = os.path.join("/tmp", ".keras")  # where Keras goes when home is not writable

_memory = {}       # cache key -> entry, for this process
_decisions = []    # what choose() decided in this process
_forced = []       # forms forced in-process, innermost last
_warned = set()
_clock = time.perf_counter


def mode():
    """The current way of choosing: a form forced in-process, else ``$GDL_CONV_FORM`` (default
    ``measure``)."""
    if _forced:
        return _forced[-1]
    value = os.environ.get(ENV_VARIABLE, "").strip() or "measure"
    if value not in MODES:
        raise ValueError(f"{ENV_VARIABLE}={value!r}: choose one of {', '.join(MODES)}.")
    return value


@contextlib.contextmanager
def forced(form):
    """Layers built inside use ``form`` (``keras``, ``fast`` or ``measure``), whatever
    ``$GDL_CONV_FORM`` says."""
    if form not in MODES:
        raise ValueError(f"conv_forms.forced({form!r}): choose one of {', '.join(MODES)}.")
    _forced.append(form)
    try:
        yield
    finally:
        _forced.pop()


def form_of(layer):
    """The form a built layer computes: its ``conv_form``, ``keras`` for Keras' own classes."""
    return getattr(layer, "conv_form", None) or KERAS


def decisions():
    """The forms chosen in this process, in order: dicts with ``layer`` (its name), ``signature``,
    ``form``, ``ms`` (per candidate, where measured) and ``source`` (``measured``, ``cache file``,
    ``this process``, or what forced it)."""
    return [dict(d, signature=dict(d["signature"]), ms=d["ms"] and dict(d["ms"])) for d in _decisions]


def choose(layer, input_shape):
    """The form ``layer`` (built for ``input_shape``) should compute, by the current :func:`mode`."""
    current = mode()
    shape = tuple(None if n is None else int(n) for n in tuple(input_shape)[1:])
    signature = _signature(layer, shape)
    if current != "measure":
        form = KERAS if current == KERAS else layer.fast_form
        source = f"forced {current}" if _forced else f"{ENV_VARIABLE}={current}"
        return _decide(layer, signature, form, None, source)
    if None in shape:
        return _decide(layer, signature, KERAS, None, "not measured: unknown input size")
    key = cache_key(signature)
    candidates = tuple(layer.form_candidates)
    entry, source = _memory.get(key), "this process"
    if entry is None:
        entry, source = _read_entries().get(key), "cache file"
        if not _valid(entry, candidates):
            seconds = _measure(layer, shape)
            entry = {"form": _pick(seconds, candidates),
                     "ms": {form: round(s * 1000, 3) for form, s in seconds.items()}}
            source = "measured"
            _store(key, entry)
        _memory[key] = entry
    return _decide(layer, signature, entry["form"], entry["ms"], source)


def _decide(layer, signature, form, ms, source):
    _decisions.append(dict(layer=layer.name, signature=signature, form=form,
                           ms=ms and dict(ms), source=source))
    return form


def _signature(layer, shape):
    import keras

    return {
        "layer": f"{type(layer).__module__.split('.')[-1]}.{type(layer).__name__}",
        "dtype": keras.backend.standardize_dtype(layer.compute_dtype),
        "batch": REFERENCE_BATCH,
        "input": list(shape),
        "filters": int(layer.filters),
        "kernel": [int(k) for k in layer.kernel_size],
        "strides": [int(s) for s in layer.strides],
        "padding": str(layer.padding).lower(),
    }


def device():
    """What the measurement runs on: the first GPU's name, else the CPU's model and flags."""
    import tensorflow as tf

    from models.ops.precision import cpu_summary

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU {details.get('device_name') or gpus[0].name}"
    return cpu_summary()


def tensorflow_version():
    import tensorflow as tf

    return tf.__version__


def cache_key(signature):
    """The cache file's key of a layer signature on this device and TensorFlow."""
    def text(value):
        return "x".join(str(v) for v in value) if isinstance(value, list) else str(value)

    parts = {"device": device(), "tensorflow": tensorflow_version(), **signature}
    return "; ".join(f"{name}={text(value)}" for name, value in parts.items())


def _valid(entry, candidates):
    return (isinstance(entry, dict) and entry.get("form") in candidates
            and isinstance(entry.get("ms"), dict) and set(entry["ms"]) == set(candidates))


def _pick(seconds, candidates):
    """Keras' own form unless another (the fastest) beats it by more than ``MIN_GAIN``."""
    others = [form for form in candidates if form != KERAS]
    best = min(others, key=lambda form: seconds[form])
    return best if seconds[best] < (1 - MIN_GAIN) * seconds[KERAS] else KERAS


# -------------------------------------------------------------------------- measuring


def _measure(layer, shape):
    import tensorflow as tf

    with tf.init_scope():  # eagerly, even when the model is built inside a trace
        return time_forms(_runners(layer, shape))


def _runners(layer, shape):
    """Per candidate, a call running its forward pass and both gradients, once."""
    import tensorflow as tf

    rng = np.random.default_rng(0)  # not TensorFlow's generators: a measurement must not move them
    dtype = tf.as_dtype(layer.compute_dtype)

    def tensor(shape, scale=1.0):
        return tf.cast(tf.constant(rng.normal(scale=scale, size=shape).astype("float32")), dtype)

    batch_shape = (REFERENCE_BATCH, *shape)
    x = tensor(batch_shape)
    kernel = tensor(tuple(layer.kernel.shape), scale=0.05)
    dy = tensor(tuple(layer.compute_output_shape(batch_shape)))

    def runner(form):
        def step():
            # tf.gradients, not a GradientTape: tf.init_scope() pauses the tapes.
            y = layer.form_output(x, kernel, form)
            dx, dkernel = tf.gradients(y, [x, kernel], grad_ys=dy)
            return tf.cast(dx[0, 0, 0, 0], tf.float32) + tf.cast(dkernel[0, 0, 0, 0], tf.float32)

        # Traced once, here; calling the graph itself keeps TensorFlow's retracing warning quiet.
        graph = tf.function(step, autograph=False).get_concrete_function()
        return lambda: graph().numpy()  # .numpy() waits for the device

    return {form: runner(form) for form in layer.form_candidates}


def time_forms(runners, budget_s=None):
    """Fastest seconds of each of ``runners`` (form -> call): one warm-up call each, then rounds
    in turns, at least ``MIN_ROUNDS``, more while the total stays within ``budget_s``
    (default ``LAYER_BUDGET_S``), at most ``MAX_ROUNDS``."""
    budget_s = LAYER_BUDGET_S if budget_s is None else budget_s
    start = _clock()
    for run in runners.values():
        run()
    readings = {form: [] for form in runners}
    for rounds in range(1, MAX_ROUNDS + 1):
        round_start = _clock()
        for form, run in runners.items():
            before = _clock()
            run()
            readings[form].append(_clock() - before)
        now = _clock()
        if rounds >= MIN_ROUNDS and now - start + (now - round_start) > budget_s:
            break
    return {form: min(times) for form, times in readings.items()}


# -------------------------------------------------------------------------- the cache file


def cache_path():
    """``gdl/conv_forms.json`` in ``$KERAS_HOME`` (default ``~/.keras``), or under
    ``/tmp/.keras`` where that folder cannot be written; None where neither can."""
    home = keras_home()
    for root in (home, FALLBACK_KERAS_HOME):
        path = os.path.join(root, CACHE_FILE)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError:
            continue
        if os.access(os.path.dirname(path), os.W_OK):
            return path
    return None


def _read_entries(path=None):
    """The cache file's entries; empty for a missing file, another format version, or damage
    (which is reported once)."""
    path = path or cache_path()
    if path is None or not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or not isinstance(data.get("entries", {}), dict):
            raise ValueError("not a conv_forms cache")
    except (OSError, ValueError) as error:
        _warn_once(f"Ignoring the damaged convolution-form cache {path} ({error}); measuring again.")
        return {}
    if data.get("format") != FORMAT_VERSION:
        return {}
    return data.get("entries", {})


def _store(key, entry):
    """Adds ``key`` to the cache file, keeping what another process may have written meanwhile;
    written atomically (a temporary file in the same folder, then ``os.replace``)."""
    path = cache_path()
    if path is None:
        _warn_once("No writable Keras folder for the convolution-form cache; forms are measured "
                   "again in every process.")
        return
    entries = dict(_read_entries(path))
    entries[key] = entry
    data = {"format": FORMAT_VERSION, "entries": dict(sorted(entries.items()))}
    try:
        with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(path), prefix=".conv_forms.",
                                         suffix=".tmp", delete=False, encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(f.name, path)
    except OSError as error:
        _warn_once(f"Could not write the convolution-form cache {path} ({error}).")
        with contextlib.suppress(OSError, NameError):
            os.unlink(f.name)


def _warn_once(message):
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, stacklevel=4)
