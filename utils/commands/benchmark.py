"""``gdl-bench``: how fast one training step of each chapter preset runs here.

For each preset it times one "epoch" (a generator update with its critic or
discriminator updates) three ways, four with ``--xla``:

  (a) the book's loop ported to Keras 3 as the book writes it: ``generator.predict``,
      then ``train_on_batch`` calls, and for WGAN the per-layer numpy weight clipping,
      on the book's layers (UpSampling2D then a K×K Conv2D);
  (b) this project's compiled step, float32, its convolution layers (``models.ops.subpixel``,
      ``models.ops.fast_conv``) each computing the form measured fastest here
      (``models.ops.conv_forms``: Keras' own, the input gradient as a forward convolution,
      the upsample-conv on the image before upsampling);
  (c) the same step under mixed precision (float16 on GPUs, bfloat16 on CPUs with
      bfloat16 instructions; not timed where it would stay float32);
  (d) with ``--xla``: (b) compiled with XLA;
  (e) (b) on the book's layers (Keras' own Conv2D and Conv2DTranspose, Keras' own
      forms: ``GDL_CONV_FORM=keras``), to show what the measured forms save.

With ``--backends tensorflow,jax,torch`` it adds, per preset, one row per Keras backend:
``fit()`` of this project's step on that backend (its own process, as Keras takes one
backend per process), the backends run one after another, round after round, each
row the median of its rounds, compilation and warm-up excluded.  With ``jax`` among them it
also times, in turns in one JAX process, (g) this project's step and (h) the same step written
by hand for JAX (``utils.commands.handwritten_jax_step``: ``stateless_call``, ``stateless_apply``), both
jitted and called directly: what writing the step once with ``keras.ops`` costs there.

It counts the step's FLOPs from the layer shapes (every forward, input-gradient
and weight-gradient product of the convolutions and dense layers, the gradient
penalty's double backward included) and measures this machine's float32 and
bfloat16 matrix-multiply rate.  It also times each of those layer products on
its own: their sum is the cost of the step's own arithmetic here, and the step's
time over it is the overhead of everything else.  It prints ms per step, images
per second, GFLOP per step, achieved GFLOP/s, that as a fraction of the matmul
rate, the arithmetic's ms and the step's multiple of it.  A preset's variants
are timed in turns, round after round, so that a change in the machine's speed
hits them alike; warm-up steps are excluded and each row is the median of the
rounds.  After the table it lists each layer's form: chosen, with its milliseconds
per candidate, measured now or read from the cache.  The table is also written to
``run/bench/benchmark.json`` and ``.csv``.
"""

import argparse
import contextlib
import csv
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from utils.commands.help import DefaultsHelpFormatter
from utils.paths import run_root, writable_folder_problem
from utils.standard_error import standard_error_to

# --------------------------------------------------------------------------- FLOPs


def product_layers(network):
    """The layers whose arithmetic we count: convolutions (plain and transposed) and dense layers."""
    import keras

    kinds = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)
    return [layer for layer in network.layers if isinstance(layer, kinds)]


def computes_subpixel(layer):
    """Whether ``layer`` convolves the image before upsampling (``models.ops.subpixel``'s forms)."""
    from models.ops import conv_forms, subpixel

    return isinstance(layer, subpixel.Conv2D) and conv_forms.form_of(layer).startswith("subpixel")


def subpixel_shapes(layer):
    """(height, width) of the image before upsampling, and the phase kernel's shape, of an
    exact upsample-conv layer (``models.ops.subpixel.Conv2D``)."""
    _, h, w, c_in = layer.input.shape
    s_h, s_w = (selection.shape[1] for selection in layer._selection)
    return (h // 2, w // 2), (s_h, s_w, c_in, 4 * layer.filters)


def layer_macs(network):
    """Multiply-accumulates of each product layer's forward pass for one image, in order
    (what the layer computes: the exact upsample-conv's smaller convolution where it uses it)."""
    import keras

    macs = []
    for layer in product_layers(network):
        if isinstance(layer, keras.layers.Dense):
            macs.append(layer.input.shape[-1] * layer.units)
            continue
        if computes_subpixel(layer):
            # An S×S convolution with 4× the filters on the image before upsampling.
            small, kernel = subpixel_shapes(layer)
            macs.append(small[0] * small[1] * int(np.prod(kernel)))
            continue
        # A transposed convolution visits every input pixel, a convolution every output pixel.
        transposed = isinstance(layer, keras.layers.Conv2DTranspose)
        _, h, w, _ = (layer.input if transposed else layer.output).shape
        k_h, k_w = layer.kernel_size
        macs.append(h * w * k_h * k_w * layer.input.shape[-1] * layer.filters)
    return macs


def forward_macs(network):
    """Multiply-accumulates of one forward pass for one image, from the layer shapes."""
    return sum(layer_macs(network))


# A layer's three products: its forward pass, the gradient with respect to its input,
# and the gradient with respect to its weights.  Each costs the forward pass's MACs.
PRODUCTS = ("forward", "input", "weights")


def _networks(model):
    return {"generator": model.generator, "critic": model.adversary}


def step_products(model, n_critic):
    """How often one book "epoch" runs each layer product, per image.

    Returns ``{(network, product): [count per conv/dense layer]}`` for the networks
    'generator' and 'critic':
    * a training pass of the critic on a batch: forward, weight gradients, and input
      gradients above the first layer (nothing needs the gradient of the images);
    * a critic step: the generator's forward pass (the fakes) and two training passes
      (real and fake batch);
    * WGAN-GP adds the penalty: forward and input gradients on the interpolates, then
      their double backward: weight gradients, and the penalty's gradient carried up
      the chain (a forward-type product per layer below the output).  The ReLU slopes
      are constant, so nothing flows back through the forward pass (see
      ``models.ops.constant_slopes``);
    * a generator step: the generator's forward pass, weight gradients and input
      gradients above its first layer, and the critic's forward pass and input gradients.
    """
    n_layers = {net: len(product_layers(network)) for net, network in _networks(model).items()}
    counts = {(net, product): [0] * n for net, n in n_layers.items() for product in PRODUCTS}

    def add(net, product, times=1, skip_first=False, skip_last=False):
        layers = range(n_layers[net])
        for i in layers[1 if skip_first else 0: len(layers) - (1 if skip_last else 0)]:
            counts[net, product][i] += times

    def training_pass(net, times):
        add(net, "forward", times)
        add(net, "weights", times)
        add(net, "input", times, skip_first=True)

    add("generator", "forward", n_critic)
    training_pass("critic", 2 * n_critic)
    if model.penalty_passes:
        add("critic", "forward", n_critic)
        add("critic", "input", n_critic)
        add("critic", "weights", n_critic)
        add("critic", "forward", n_critic, skip_last=True)
    training_pass("generator", 1)
    add("critic", "forward", 1)
    add("critic", "input", 1)
    return counts


def step_flops(model, batch_size, n_critic):
    """FLOPs of one book "epoch" of ``model``: 2 per multiply-accumulate of every layer product."""
    macs = {net: layer_macs(network) for net, network in _networks(model).items()}
    total = sum(count * macs[net][i]
                for (net, _), counts in step_products(model, n_critic).items()
                for i, count in enumerate(counts))
    return 2 * batch_size * total


def arithmetic_seconds(model, batch_size, n_critic, repeats=5):
    """What one epoch's layer products cost on this machine, each timed on its own.

    The step's floor: its convolutions and matrix products at their shapes and
    precision, run one after another with nothing around them (no activations,
    losses, optimizer or data).  A step's time over this is its overhead.
    """
    layers = {net: product_layers(network) for net, network in _networks(model).items()}
    seconds = 0.0
    for (net, product), counts in step_products(model, n_critic).items():
        for layer, count in zip(layers[net], counts):
            if count:
                seconds += count * product_seconds(layer, product, batch_size, repeats)
    return seconds


# Each product's compiled function, made once and timed in every round: a new tf.function per
# round would be traced again each time (and TensorFlow warns about such retracing).
_COMPILED = {}


def product_seconds(layer, product, batch_size, repeats=5):
    """Fastest of ``repeats`` runs of one product of ``layer`` (see ``layer_product``)."""
    key = (id(layer), product, batch_size)
    if key not in _COMPILED:
        _COMPILED[key] = (layer, layer_product(layer, product, batch_size))  # keeps the id taken
    return fastest_seconds(_COMPILED[key][1], repeats)


def fastest_seconds(compiled, repeats):
    """Fastest of ``repeats`` timed calls of ``compiled()`` after one untimed call (tracing)."""
    compiled().numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        compiled().numpy()
        times.append(time.perf_counter() - start)
    return min(times)


def layer_product(layer, product, batch_size):
    """A compiled function computing one product of ``layer`` on random inputs in its compute dtype,
    in the form the layer computes (``models.ops.conv_forms.form_of``).

    'forward' returns the layer's output (before bias and activation), 'input' a
    gradient shaped like its input, 'weights' one shaped like its kernel.
    """
    import keras
    import tensorflow as tf

    from models.ops import conv_forms, fast_conv

    dtype = layer.compute_dtype
    form = conv_forms.form_of(layer)
    input_shape, output_shape, kernel_shape = layer.input.shape[1:], layer.output.shape[1:], layer.kernel.shape
    if computes_subpixel(layer):  # its convolution runs on the image before upsampling
        (h, w), kernel_shape = subpixel_shapes(layer)
        input_shape, output_shape = (h, w, kernel_shape[2]), (h, w, kernel_shape[3])
    x = tf.cast(tf.random.normal((batch_size, *input_shape)), dtype)
    y = tf.cast(tf.random.normal((batch_size, *output_shape)), dtype)
    kernel = tf.cast(tf.random.normal(kernel_shape), dtype)
    if isinstance(layer, keras.layers.Dense):
        run = {"forward": lambda: tf.matmul(x, kernel),
               "input": lambda: tf.matmul(y, kernel, transpose_b=True),
               "weights": lambda: tf.matmul(x, y, transpose_a=True)}[product]
        return tf.function(run)
    strides, padding = (1, *layer.strides, 1), layer.padding.upper()
    # A transposed convolution is a convolution's input gradient, and the other way round.
    transposed = isinstance(layer, keras.layers.Conv2DTranspose)
    small, large = (x, y) if transposed else (y, x)
    convolve = lambda: tf.nn.conv2d(large, kernel, strides, padding)
    transpose = lambda: tf.nn.conv2d_transpose(small, kernel, large.shape, strides, padding)
    # Their "fast" and "subpixel" forms compute that transposed product as a forward
    # convolution.  (Both kernels are (K, K, channels of the convolution's input, of its output).)
    if form in ("fast", "subpixel"):
        transpose = lambda: fast_conv.conv_input_gradient(small, kernel, large.shape[1:3],
                                                          layer.strides[0], padding)
    filters = lambda: tf.raw_ops.Conv2DBackpropFilter(
        input=large, filter_sizes=kernel.shape, out_backprop=small, strides=strides, padding=padding)
    run = {"forward": transpose if transposed else convolve,
           "input": convolve if transposed else transpose,
           "weights": filters}[product]
    return tf.function(run)


def matmul_gflops(dtype="float32", n=2048, repeats=10):
    """The machine's dense matrix-multiply rate, from the fastest of ``repeats`` products:
    the ceiling a conv net can approach (the fastest run is the one nothing else disturbed)."""
    import tensorflow as tf

    key = ("matmul", dtype, n)
    if key not in _COMPILED:
        a = tf.cast(tf.random.normal((n, n), dtype=tf.float32), dtype)
        b = tf.cast(tf.random.normal((n, n), dtype=tf.float32), dtype)
        _COMPILED[key] = (None, tf.function(lambda: tf.matmul(a, b)))
    return 2 * n**3 / fastest_seconds(_COMPILED[key][1], repeats) / 1e9


# --------------------------------------------------------------------------- the rows


def book_loop(model, x_train, batch_size, n_critic, clip_threshold):
    """One epoch exactly as the book's Keras 2 code does it, on Keras 3 objects."""
    critic, generator = model.adversary, model.generator
    real_label = np.full((batch_size, 1), model.objective.real_label)
    fake_label = np.full((batch_size, 1), model.objective.fake_label)

    def epochs(n):
        for _ in range(n):
            epoch()

    def epoch():
        for _ in range(n_critic):
            idx = np.random.randint(0, x_train.shape[0], batch_size)
            true_imgs = x_train[idx]
            noise = np.random.normal(0, 1, (batch_size, model.z_dim))
            gen_imgs = generator.predict(noise, verbose=0)
            critic.train_on_batch(true_imgs, real_label)
            critic.train_on_batch(gen_imgs, fake_label)
            if clip_threshold is not None:
                for layer in critic.layers:
                    weights = [np.clip(w, -clip_threshold, clip_threshold) for w in layer.get_weights()]
                    layer.set_weights(weights)
        noise = np.random.normal(0, 1, (batch_size, model.z_dim))
        model.model.train_on_batch(noise, real_label)

    return epochs


def our_steps(model, x_train, batch_size, n_critic, clip_threshold, y_train=None):
    """``n`` steps of the compiled step that ``fit()`` runs (Keras' train function), on the data
    pipeline ``train()`` feeds it (with ``y_train``, a conditional model's labels); one iterator
    for the whole benchmark, as in one long run."""
    from utils.data.batches import labelled_batches, training_dataset

    if clip_threshold is not None:
        model.clip_threshold = clip_threshold
    dataset = (training_dataset(x_train, batch_size, n_critic=n_critic) if y_train is None
               else labelled_batches(x_train, y_train, batch_size, n_critic=n_critic))
    iterator = iter(model.distribute_strategy.experimental_distribute_dataset(dataset))
    model.make_train_function()

    def steps(n):
        for _ in range(n):
            logs = model.train_function(iterator)
        float(logs["g_loss"])  # wait for the last step

    return steps


def time_in_turns(functions, warmup, steps, repeats, between_rounds=None):
    """Median seconds per step of each function, timed in turns.

    ``function(n)`` runs ``n`` steps.  Each round times ``steps`` steps of every
    function one after the other, so a change in the machine's speed (a shared
    VM, another job) hits all of them alike and their ratios stay fair.
    ``between_rounds()`` runs before each round.
    """
    for function in functions:
        function(warmup)
    per_call = [[] for _ in functions]
    for _ in range(repeats):
        if between_rounds:
            between_rounds()
        for function, times in zip(functions, per_call):
            start = time.perf_counter()
            function(steps)
            times.append((time.perf_counter() - start) / steps)
    return [statistics.median(times) for times in per_call]


def stream_ms_per_batch(image_size, batch_size, batches):
    """Input-pipeline time per batch of the CelebA stream, on generated 178×218 JPEGs."""
    from PIL import Image

    from utils.data.celeb import ImageStream

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(batch_size * 4):
            path = os.path.join(folder, f"{i:06d}.jpg")
            pixels = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path, quality=90)
            paths.append(path)
        iterator = iter(ImageStream(paths, image_size, batch_size, seed=0).dataset)
        next(iterator)
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        elapsed = time.perf_counter() - start
        del iterator  # stop its prefetching before the files are deleted
        return elapsed / batches * 1000


@contextlib.contextmanager
def book_layers(plain):
    """While ``plain``, networks are built with Keras' own layers and forms, as the book builds
    them (UpSampling2D + Conv2D, Keras' own gradients: ``GDL_CONV_FORM=keras``)."""
    from models import networks
    from models.ops import conv_forms

    saved = networks.EXACT_UPSAMPLE_CONV, networks.FAST_CONVOLUTIONS
    networks.EXACT_UPSAMPLE_CONV = saved[0] and not plain
    networks.FAST_CONVOLUTIONS = saved[1] and not plain
    try:
        with conv_forms.forced("keras") if plain else contextlib.nullcontext():
            yield
    finally:
        networks.EXACT_UPSAMPLE_CONV, networks.FAST_CONVOLUTIONS = saved


def _arithmetic_kind(model):
    """Models with the same layer products: same precision, same kinds of layers and forms."""
    from models.ops import conv_forms

    kinds = tuple((type(layer).__module__, conv_forms.form_of(layer))
                  for network in _networks(model).values() for layer in product_layers(network))
    return model.dtype_policy.name, kinds


def _rate_name(model):
    return "bfloat16" if model.dtype_policy.name == "mixed_bfloat16" else "float32"


def benchmark(chapters, quick=False, xla=False):
    """(matmul readings, table rows, convolution forms): the forms the timed models of this
    project chose (``models.ops.conv_forms.decisions()``), each layer signature once per preset."""
    import keras

    from models.ops import conv_forms
    from models.ops.precision import resolve_precision

    from utils.chapters import CHAPTERS

    schedule = dict(warmup=1, steps=2, repeats=3) if quick else dict(warmup=3, steps=5, repeats=5)
    # The matmul rate is read in every round: the fastest reading is the machine's
    # ceiling, and a spread shows that its speed changed during the run.
    rates = {"float32": [], "bfloat16": []}
    rows, forms = [], []
    for chapter in chapters:
        preset = CHAPTERS[chapter].preset
        model_class, label = CHAPTERS[chapter].model_class, CHAPTERS[chapter].label
        batch = preset.batch_size
        n_critic = preset.train_options.get("n_critic", 1)
        clip = preset.train_options.get("clip_threshold")
        x_train = np.random.uniform(-1, 1, (2048, *preset.input_dim)).astype("float32")
        variants = [("(a) book loop", {}, "book"), ("(b) ours float32", {}, "ours"),
                    ("(c) ours mixed", {"mixed_precision": True}, "ours")]
        if xla:
            variants.append(("(d) ours XLA", {"jit_compile": True}, "ours"))
        variants.append(("(e) ours, book's layers", {}, "ours-plain"))
        timed = []
        for name, options, kind in variants:
            if options.get("mixed_precision") and resolve_precision(True) is None:
                rows.append(dict(preset=label, variant=name, note=(
                    "not timed: mixed_precision=True stays in float32 on this CPU (no bfloat16 "
                    "instructions; emulated bfloat16 runs about 11x slower)")))
                continue
            if kind == "book" and chapter == "04_03":
                rows.append(dict(preset=label, variant=name, note="the book's K.gradients loss does not run on Keras 3"))
                continue
            keras.utils.set_random_seed(0)
            decided = len(conv_forms.decisions())
            with book_layers(kind in ("book", "ours-plain")):
                model = model_class(**preset.model, **options)
            if kind == "ours":
                forms.extend(dict(decision, preset=label)
                             for decision in conv_forms.decisions()[decided:])
            step = (book_loop(model, x_train, batch, n_critic, clip) if kind == "book"
                    else our_steps(model, x_train, batch, n_critic, clip))
            timed.append((name, model, step))

        # Per precision, the step's layer products timed on their own, once a round.
        by_policy = {_arithmetic_kind(model): model for _, model, _ in timed}
        arithmetic = {policy: [] for policy in by_policy}

        def between_rounds():
            for name in {_rate_name(model) for _, model, _ in timed}:
                rates[name].append(matmul_gflops(name))
            for policy, model in by_policy.items():
                arithmetic[policy].append(arithmetic_seconds(model, batch, n_critic, repeats=1))

        print(f"  timing {label}: {', '.join(name for name, _, _ in timed)}, in turns", flush=True)
        seconds = time_in_turns([step for _, _, step in timed], **schedule, between_rounds=between_rounds)
        for (name, model, _), step_seconds in zip(timed, seconds):
            flops = step_flops(model, batch, n_critic)
            floor = statistics.median(arithmetic[_arithmetic_kind(model)])
            rows.append(dict(
                preset=label, variant=name, batch=batch, n_critic=n_critic,
                ms_per_step=round(step_seconds * 1000, 1),
                images_per_s=round(batch / step_seconds, 1),
                gflop_per_step=round(flops / 1e9, 1),
                gflop_per_s=round(flops / step_seconds / 1e9, 1),
                matmul_rate=_rate_name(model),
                arithmetic_ms=round(floor * 1000, 1),
                x_arithmetic=round(step_seconds / floor, 2),
            ))
            print(f"  {label}, {name}: {rows[-1]['ms_per_step']} ms per step", flush=True)
        if chapter == "04_03":
            rows.append(dict(preset=label, variant="input pipeline (CelebA stream)",
                             ms_per_step=round(stream_ms_per_batch(64, batch, 8 if quick else 32), 1),
                             note="ms to decode, resize and batch one batch, overlapped with the step"))
            print(f"  {label}, input pipeline: {rows[-1]['ms_per_step']} ms per batch", flush=True)
    ceiling = matmul_ceiling(rates)
    for row in rows:
        if "gflop_per_s" in row:
            row["fraction_of_matmul"] = round(row["gflop_per_s"] / ceiling[row["matmul_rate"]], 3)
    return rates, rows, _distinct(forms)


BACKENDS = ("tensorflow", "jax", "torch")


def fit_seconds(chapter, steps, warmup, plain=False):
    """Seconds per step of ``fit()`` on the chapter preset's model, in this process's backend:
    ``warmup`` steps (compilation) first, then ``steps`` steps in one ``fit`` call; ``plain``
    builds it with Keras' own layers (``book_layers``)."""
    import keras

    from utils.chapters import CHAPTERS

    info = CHAPTERS[chapter]
    preset = info.preset
    n_critic = preset.train_options.get("n_critic", 1)
    keras.utils.set_random_seed(0)
    with book_layers(plain):
        model = info.model_class(**preset.model)
    if preset.train_options.get("clip_threshold") is not None:
        model.clip_threshold = preset.train_options["clip_threshold"]
    images = preset.batch_size * n_critic * max(steps, warmup)
    x_train = np.random.uniform(-1, 1, (images, *preset.input_dim)).astype("float32")
    batches = model.training_batches(x_train, preset.batch_size, n_critic)
    model.fit(batches, epochs=1, steps_per_epoch=warmup, verbose=0)
    start = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0)
    return (time.perf_counter() - start) / steps


def backend_rows(chapters, backends, quick=False):
    """One row per preset and backend: ``fit()``'s ms per step, each backend in its own process,
    the backends in turns, round after round; the median of the rounds.  Returns ``(rows, forms)``:
    ``forms[backend]``, the convolution forms each backend's process chose (as
    ``models.ops.conv_forms.decisions()``, with the preset)."""
    from utils.chapters import CHAPTERS

    steps, warmup, rounds = (3, 2, 2) if quick else (5, 3, 3)
    rows, forms = [], {backend: [] for backend in backends}
    for chapter in chapters:
        label = CHAPTERS[chapter].label
        readings = {backend: [] for backend in backends}
        for _ in range(rounds):
            for backend in backends:
                code = ("import json; from models.ops import conv_forms; "
                        "from utils.commands.benchmark import fit_seconds; "
                        f"seconds = fit_seconds({chapter!r}, {steps}, {warmup}); "
                        "print('RESULT', json.dumps({'seconds': seconds, 'forms': conv_forms.decisions()}))")
                found = json.loads(_child_result(code, backend, f"timing {chapter} on {backend}"))
                readings[backend].append(found["seconds"])
                forms[backend].extend(dict(decision, preset=label) for decision in found["forms"])
        for backend, seconds in readings.items():
            rows.append(_timed_row(chapter, f"(f) fit() on {backend}", statistics.median(seconds)))
    return rows, {backend: _distinct(found) for backend, found in forms.items()}


def jax_step_rows(chapters, quick=False):
    """Per preset, on JAX: this project's step against the same step written by hand for JAX
    (``utils.commands.handwritten_jax_step``), both jitted and called directly, in turns in one process."""
    from utils.chapters import CHAPTERS

    steps, warmup, rounds = (2, 1, 3) if quick else (3, 2, 5)
    rows = []
    for chapter in chapters:
        label = CHAPTERS[chapter].label
        code = ("import json; from utils.commands.handwritten_jax_step import step_seconds; "
                f"print('RESULT', json.dumps(step_seconds({chapter!r}, {warmup}, {steps}, {rounds})))")
        found = json.loads(_child_result(code, "jax", f"timing {chapter}'s JAX steps"))
        if "note" in found:
            rows.append(dict(preset=label, variant="(h) JAX step, hand-written", note=found["note"]))
            continue
        rows.append(_timed_row(chapter, "(g) JAX step, ours (jitted)", found["ours"]))
        rows.append(_timed_row(chapter, "(h) JAX step, hand-written", found["handwritten"]))
    return rows


def _timed_row(chapter, variant, seconds):
    """A table row of ``seconds`` per step of the chapter preset, said as it is made."""
    from utils.chapters import CHAPTERS

    label = CHAPTERS[chapter].label
    row = dict(preset=label, variant=variant, ms_per_step=round(seconds * 1000, 1),
               images_per_s=round(CHAPTERS[chapter].preset.batch_size / seconds, 1))
    print(f"  {label}, {variant}: {row['ms_per_step']} ms per step", flush=True)
    return row


def _child_result(code, backend, what):
    """What ``code``, run by a new Python on ``backend``, prints after ``RESULT``."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "KERAS_BACKEND": backend})
    found = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode or not found:
        raise RuntimeError(f"{what} failed:\n{result.stderr[-2000:]}")
    return found[0]


def _distinct(forms):
    """The first decision for each (preset, layer, signature)."""
    seen, kept = set(), []
    for decision in forms:
        key = (decision["preset"], decision["layer"], json.dumps(decision["signature"], sort_keys=True))
        if key not in seen:
            seen.add(key)
            kept.append(decision)
    return kept


def format_form(decision):
    """One line of the forms list: preset, layer, its signature, the form, ms per candidate, source."""
    sig = decision["signature"]
    shape = (f"{sig['layer']} {sig['dtype']} {'x'.join(map(str, sig['input']))}→{sig['filters']} "
             f"k{'x'.join(map(str, sig['kernel']))} s{'x'.join(map(str, sig['strides']))}")
    timed = ", ".join(f"{form} {'failed' if ms is None else f'{ms:.1f}'}"
                      for form, ms in (decision["ms"] or {}).items())
    return (f"{decision['preset']:<15} {decision['layer']:<21} {shape:<57} {decision['form']:<23} "
            + (f"ms: {timed}; " if timed else "") + decision["source"])


def matmul_ceiling(readings):
    """Per precision, the fastest matmul reading of a run: the machine's undisturbed rate."""
    return {name: max(values) for name, values in readings.items() if values}


COLUMNS = ("preset", "variant", "ms_per_step", "images_per_s", "gflop_per_step", "gflop_per_s",
           "fraction_of_matmul", "arithmetic_ms", "x_arithmetic")


def _format_row(row):
    cells = [str(row.get(column, "")) for column in COLUMNS]
    text = f"{cells[0]:<15} {cells[1]:<31} " + " ".join(f"{c:>12}" for c in cells[2:])
    return text + (f"  {row['note']}" if "note" in row else "")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="gdl-bench", description=__doc__.split("\n\n")[0],
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (a few minutes)")
    parser.add_argument("--xla", action="store_true", help="add a row with XLA jit_compile")
    parser.add_argument("--chapters", default="04_01,04_02,04_03",
                        help="comma-separated presets to time")
    parser.add_argument("--out", default=None, help="folder for benchmark.json/.csv (default run/bench)")
    parser.add_argument("--backends", default=None,
                        help="also time fit() on these Keras backends, each in its own process "
                             "(comma-separated: tensorflow,jax,torch); with jax, also this project's "
                             "step against a hand-written JAX step")
    args = parser.parse_args(argv)
    backends = args.backends.split(",") if args.backends else []
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {unknown}; choose from {list(BACKENDS)}")
    args.backends = backends
    from utils.backends import problem

    for backend in backends:
        trouble = problem(backend, f"--backends {backend}")
        if trouble:
            parser.exit(2, f"gdl-bench: {trouble}\n")
    # (a)-(e) are TensorFlow's rows: timed unless --backends leaves TensorFlow out.
    args.tensorflow_rows = not backends or "tensorflow" in backends
    trouble = problem("tensorflow", "gdl-bench (rows (a)-(e))") if args.tensorflow_rows else None
    if trouble:
        parser.exit(2, f"gdl-bench: {trouble} Or time other backends alone: --backends jax,torch.\n")
    if args.xla and not args.tensorflow_rows:
        parser.error("--xla times TensorFlow's row (d): add tensorflow to --backends, or leave --xla out")
    if not args.tensorflow_rows and "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", backends[0])
    chapters = args.chapters.split(",")
    known = ("04_01", "04_02", "04_03")
    unknown = [c for c in chapters if c not in known]
    if unknown:
        parser.error(f"unknown chapter(s) {unknown}; choose from {list(known)}")
    folder = args.out or os.path.join(run_root(), "bench")
    unwritable = writable_folder_problem(folder)
    if unwritable:
        parser.exit(2, f"gdl-bench: --out {folder}: {unwritable}\n")
    log = os.path.join(folder, "tensorflow.log")
    quiet = _QuietRetracing()
    logging.getLogger("tensorflow").addFilter(quiet)
    try:
        # The table is the output: TensorFlow's own notices (oneDNN, CUDA probing, grappler), which
        # its log-level variable no longer silences, go to a file instead of between the rows.
        with standard_error_to(log):
            _bench(chapters, args, folder)
    finally:
        logging.getLogger("tensorflow").removeFilter(quiet)
    print(f"TensorFlow's own messages: {log}")


class _QuietRetracing(logging.Filter):
    """Drops TensorFlow's advice about functions traced in a loop: the benchmark compiles one small
    function per layer product on purpose (each traced once, then timed in every round)."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def _bench(chapters, args, folder):
    from models.ops.precision import cpu_summary, gpu_available

    machine = cpu_summary() + (", with a GPU" if gpu_available() else "")
    print(f"Machine: {machine}", flush=True)
    if args.tensorflow_rows:
        measured, rows, forms = benchmark(chapters, quick=args.quick, xla=args.xla)
    else:
        print("Rows (a)-(e) are TensorFlow's: not timed (add tensorflow to --backends to time them).",
              flush=True)
        measured, rows, forms = {}, [], []
    backend_forms = {}
    if args.backends:
        fit_rows, backend_forms = backend_rows(chapters, args.backends, quick=args.quick)
        rows += fit_rows
    if "jax" in args.backends:
        rows += jax_step_rows(chapters, quick=args.quick)
    rates = {name: round(rate, 1) for name, rate in matmul_ceiling(measured).items()}
    print(f"\n{'preset':<15} {'variant':<31} " + " ".join(f"{c:>12}" for c in COLUMNS[2:]))
    for row in rows:
        print(_format_row(row))
    if rates:
        print("\nmatmul rate (2048×2048, fastest of the readings taken in every round): " + ", ".join(
            f"{name} {rate:.0f} GFLOP/s" for name, rate in rates.items()))
    unsteady = [name for name, values in measured.items() if values and min(values) < 0.85 * max(values)]
    if unsteady:
        print(f"warning: the {' and '.join(unsteady)} matmul rate varied by more than 15% during the run "
              f"({', '.join(f'{min(measured[n]):.0f}–{max(measured[n]):.0f}' for n in unsteady)} GFLOP/s); "
              "something else was using the CPU, so compare rows with care or run again.")
    if forms:
        from models.ops import conv_forms

        print(f"\nConvolution forms of (b)-(d) (batch {conv_forms.REFERENCE_BATCH}, forward pass and "
              f"both gradients; cache {conv_forms.cache_path()}):")
        for decision in forms:
            print("  " + format_form(decision))
    for backend, decisions in backend_forms.items():
        if decisions and backend != "tensorflow":  # TensorFlow's are (b)'s, listed above
            print(f"\nConvolution forms of (f) on {backend} (its own ops and gradients):")
            for decision in decisions:
                print("  " + format_form(decision))
    by_preset = {}
    for row in rows:
        if "ms_per_step" in row and row["variant"].startswith("("):
            key = row["variant"] if row["variant"].startswith("(f)") else row["variant"][:3]
            by_preset.setdefault(row["preset"], {})[key] = row["ms_per_step"]
    for preset, times in by_preset.items():
        if "(a)" in times:
            speedups = ", ".join(f"{v} {times['(a)'] / t:.2f}×" for v, t in times.items() if v != "(a)")
            print(f"{preset}: speed-up over the book's loop: {speedups}")

    with open(os.path.join(folder, "benchmark.json"), "w") as f:
        json.dump({"machine": machine, "matmul_gflop_per_s": rates, "matmul_readings": measured,
                   "rows": rows, "conv_forms": forms, "backend_conv_forms": backend_forms,
                   "quick": args.quick}, f, indent=2)
    with open(os.path.join(folder, "benchmark.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*COLUMNS, "batch", "n_critic", "matmul_rate", "note"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
    print(f"Written to {folder}/benchmark.json and .csv")
