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
compute dtype, on the default device and with the backend Keras runs on (a
``tf.function`` with ``tf.gradients`` on TensorFlow, a jitted ``jax.vjp`` on JAX,
``torch.autograd.grad`` on PyTorch): one warm-up call each, then rounds in turns
(a change in the machine's speed hits every candidate alike), at least
``MIN_ROUNDS``, more while the layer's ``LAYER_BUDGET_S`` lasts; each candidate's
fastest reading counts.  Keras' own form is kept unless another is faster by more
than ``MIN_GAIN``.

Decisions are remembered in this process and in ``gdl/conv_forms.json`` in the
Keras folder (:func:`cache_path`), keyed by the device, the backend and its
version (``tensorflow=2.21.0``, ``jax=0.10.2``) and the layer's signature, so a
machine measures each layer once.  The environment variable ``GDL_CONV_FORM``
(``measure``, ``keras`` or ``fast``) and :func:`forced` skip the measurement.

A layer taking part has ``form_candidates`` (``"keras"`` first; those the backend
Keras runs on can compute), ``fast_form`` (the form ``fast`` means),
``form_output(inputs, kernel, form)`` (the convolution without bias and
activation) and calls :func:`choose` in ``build``.
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
    ``form``, ``ms`` (per candidate, where measured; None for one that failed to run) and
    ``source`` (``measured``, ``cache file``, ``this process``, or what forced it)."""
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
                     "ms": {form: None if s is None else round(s * 1000, 3)
                            for form, s in seconds.items()}}
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
    from models.ops.precision import cpu_summary, gpu_name

    name = gpu_name()
    return f"GPU {name}" if name else cpu_summary()


def backend():
    """The backend Keras runs on, whose ops and gradients are measured."""
    import keras

    return keras.backend.backend()


def backend_version():
    """The version of that backend's library (TensorFlow, JAX or PyTorch)."""
    import importlib

    return importlib.import_module(backend()).__version__


def cache_key(signature):
    """The cache file's key of a layer signature on this device, backend and version."""
    def text(value):
        return "x".join(str(v) for v in value) if isinstance(value, list) else str(value)

    parts = {"device": device(), backend(): backend_version(), **signature}
    return "; ".join(f"{name}={text(value)}" for name, value in parts.items())


def _valid(entry, candidates):
    return (isinstance(entry, dict) and entry.get("form") in candidates
            and isinstance(entry.get("ms"), dict) and set(entry["ms"]) == set(candidates))


def _pick(seconds, candidates):
    """Keras' own form unless another (the fastest) beats it by more than ``MIN_GAIN``; never a
    form that failed (None)."""
    ran = [form for form in candidates if seconds[form] is not None]
    others = [form for form in ran if form != KERAS]
    if not others:
        return KERAS
    best = min(others, key=lambda form: seconds[form])
    if KERAS not in ran or seconds[best] < (1 - MIN_GAIN) * seconds[KERAS]:
        return best
    return KERAS


# -------------------------------------------------------------------------- measuring


def _measure(layer, shape):
    runners = {"tensorflow": _tensorflow_runners, "jax": _jax_runners, "torch": _torch_runners}
    if backend() not in runners:
        raise NotImplementedError(f"conv_forms measures on tensorflow, jax or torch, not {backend()!r}.")
    return runners[backend()](layer, _example_arrays(layer, shape))


def _example_arrays(layer, shape):
    """Input, kernel and output gradient as float32 numpy arrays, from numpy's own generator: a
    measurement must not move the backend's random state."""
    rng = np.random.default_rng(0)
    batch_shape = (REFERENCE_BATCH, *shape)
    output_shape = tuple(layer.compute_output_shape(batch_shape))
    return [rng.normal(scale=scale, size=size).astype("float32") for size, scale in (
        (batch_shape, 1.0), (tuple(layer.kernel.shape), 0.05), (output_shape, 1.0))]


def _tensorflow_runners(layer, arrays):
    """Per candidate, a call running its forward pass and both gradients once, as a graph."""
    import tensorflow as tf

    with tf.init_scope():  # eagerly, even when the model is built inside a trace
        x, kernel, dy = (tf.cast(tf.constant(a), layer.compute_dtype) for a in arrays)
        return time_forms({form: _tensorflow_runner(layer, form, x, kernel, dy)
                           for form in layer.form_candidates})


def _tensorflow_runner(layer, form, x, kernel, dy):
    import tensorflow as tf

    def step():
        # tf.gradients, not a GradientTape: tf.init_scope() pauses the tapes.
        y = layer.form_output(x, kernel, form)
        dx, dkernel = tf.gradients(y, [x, kernel], grad_ys=dy)
        return tf.cast(dx[0, 0, 0, 0], tf.float32) + tf.cast(dkernel[0, 0, 0, 0], tf.float32)

    # Traced once, here; calling the graph itself keeps TensorFlow's retracing warning quiet.
    graph = tf.function(step, autograph=False).get_concrete_function()
    return lambda: graph().numpy()  # .numpy() waits for the device


def _jax_runners(layer, arrays):
    """Per candidate, a jitted call of its forward pass and the pullback of both gradients."""
    import jax

    with jax.ensure_compile_time_eval():  # run now, even when the model is built inside a trace
        x, kernel, dy = (jax.numpy.asarray(a, dtype=layer.compute_dtype) for a in arrays)

        def runner(form):
            def step(x, kernel, dy):
                _, pullback = jax.vjp(lambda x, kernel: layer.form_output(x, kernel, form), x, kernel)
                dx, dkernel = pullback(dy)
                return dx[0, 0, 0, 0].astype("float32") + dkernel[0, 0, 0, 0].astype("float32")

            compiled = jax.jit(step).lower(x, kernel, dy).compile()
            return lambda: compiled(x, kernel, dy).block_until_ready()

        return time_forms({form: runner(form) for form in layer.form_candidates})


def _torch_runners(layer, arrays):
    """Per candidate, a call of its forward pass and ``torch.autograd.grad`` of both gradients, on
    Keras' device even inside Keras' shape pass (on the "meta" device, without gradients)."""
    import keras
    import torch

    device = _torch_device()
    x, kernel, dy = (torch.as_tensor(a, device=device).to(getattr(torch, layer.compute_dtype))
                     for a in arrays)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def runner(form):
        def step():
            with keras.device(device.type), torch.enable_grad():
                inputs = x.detach().requires_grad_(True)
                weights = kernel.detach().requires_grad_(True)
                y = layer.form_output(inputs, weights, form)
                torch.autograd.grad(y, [inputs, weights], grad_outputs=dy)
            synchronize()

        return step

    return time_forms({form: runner(form) for form in layer.form_candidates})


def _torch_device():
    """The device Keras' PyTorch backend computes on (its rule: ``$KERAS_TORCH_DEVICE``, else
    Apple's GPU, an NVIDIA GPU, an Intel GPU, else the CPU)."""
    import torch

    if os.environ.get("KERAS_TORCH_DEVICE"):
        return torch.device(os.environ["KERAS_TORCH_DEVICE"])
    for kind, backend in (("mps", getattr(torch.backends, "mps", None)), ("cuda", torch.cuda),
                          ("xpu", getattr(torch, "xpu", None))):
        if backend is not None and backend.is_available():
            return torch.device(kind)
    return torch.device("cpu")


def time_forms(runners, budget_s=None):
    """Fastest seconds of each of ``runners`` (form -> call): one warm-up call each, then rounds
    in turns, at least ``MIN_ROUNDS``, more while the total stays within ``budget_s``
    (default ``LAYER_BUDGET_S``), at most ``MAX_ROUNDS``.  A form whose warm-up call fails
    here (a backend's kernel missing for a dtype on this device) reads None and is not timed;
    if every form fails, the first error is raised."""
    budget_s = LAYER_BUDGET_S if budget_s is None else budget_s
    start = _clock()
    failed = {}
    for form, run in runners.items():
        try:
            run()
        except Exception as error:  # noqa: BLE001 - any backend's error: the form cannot run here
            failed[form] = error
    if len(failed) == len(runners):
        raise next(iter(failed.values()))
    for form, error in failed.items():
        _warn_once(f"The {form!r} convolution form failed on this machine and is not used "
                   f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}).")
    runners = {form: run for form, run in runners.items() if form not in failed}
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
    return {**{form: min(times) for form, times in readings.items()}, **dict.fromkeys(failed)}


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
