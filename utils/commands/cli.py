"""The chapter commands: ``gdl-gan`` (04_01), ``gdl-wgan`` (04_02), ``gdl-wgangp`` (04_03), and
beyond the book the controllable GANs ``gdl-cgan`` and ``gdl-infogan``.

Each trains its chapter's preset (``utils/presets.py``, shared with the
notebooks) on the book's data set or, offline, on the silhouettes that ship
with the project, and leaves grids, weights, loss curves and TensorBoard logs
under ``run/<section>/<run id>_<data>/``.  Ctrl-C or SIGTERM finishes the
current step and saves the run; ``--resume`` continues it.
"""

import argparse
import contextlib
import os
import shlex
import signal
import sys

from utils.commands.help import DefaultsHelpFormatter
from utils.chapters import get as chapter_info

SILHOUETTES = "silhouettes"
DISTRIBUTE = ("none", "mirrored", "multi-worker")


TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


def make_strategy(name):
    """The tf.distribute strategy for --distribute (created before anything else touches TensorFlow).

    ``TF_CONFIG`` is read only for ``multi-worker``, and checked first: TensorFlow's own
    errors about it name neither the variable nor the fix.  Without ``--distribute`` a
    ``TF_CONFIG`` in the environment is ignored, with a note.
    """
    if name != "multi-worker" and os.environ.get("TF_CONFIG"):
        print(f"Note: TF_CONFIG is set but --distribute is {name}: this run trains here and writes "
              "its own run folder, ignoring the cluster (pass --distribute multi-worker to join it).",
              file=sys.stderr)
    if name == "mirrored":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        import tensorflow as tf

        return tf.distribute.MultiWorkerMirroredStrategy()
    return None


def check_tf_config(text):
    """Refuse a ``TF_CONFIG`` that cannot describe this process's place in a cluster, naming what
    is wrong and the form it must take."""
    import json

    fix = f"set it on every host as, for example, TF_CONFIG='{TF_CONFIG_EXAMPLE}' (this host's index)"
    if not text:
        raise ValueError(f"--distribute multi-worker needs TF_CONFIG, which is not set: {fix}.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {fix}.") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG has no \"cluster\" object naming the hosts: {fix}.")
    for job, hosts in cluster.items():
        if not isinstance(hosts, list) or not hosts or not all(
                isinstance(host, str) and ":" in host for host in hosts):
            raise ValueError(f"TF_CONFIG's cluster job {job!r} must be a list of \"host:port\" "
                             f"strings (got {hosts!r}): {fix}.")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ValueError(f"TF_CONFIG's \"task\" must name one of the cluster's jobs "
                         f"({', '.join(cluster)}) as its \"type\" (got {task!r}): {fix}.")
    index = task.get("index", 0)
    hosts = cluster[task["type"]]
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(hosts):
        raise ValueError(f"TF_CONFIG's task index {index!r} is not one of the {len(hosts)} "
                         f"{task['type']} host(s) (0 to {len(hosts) - 1}): {fix}.")
    return config


def build_parser(chapter):
    info = chapter_info(chapter)
    preset = info.preset
    book = info.book_data != SILHOUETTES
    parser = argparse.ArgumentParser(
        prog=info.command,
        description=f"Train {'the book' + chr(39) + 's ' if book else 'a '}{info.title} and save "
        f"grids, weights and loss curves under run/{preset.section}/<run id>_<data>/.",
        formatter_class=DefaultsHelpFormatter,
    )
    data_help = (f"'{info.book_data}' is the book's data set (see docs/data.md for getting it); " if book else "")
    if "cifar" in info.other_presets:
        data_help += "'cifar': all ten CIFAR-10 classes (see docs/data.md for getting it); "
    images = ("one subfolder of images per class, " if info.conditional else "")
    parser.add_argument(
        "--data", type=data_argument(info.data_choices), default=info.book_data,
        metavar="{" + ",".join(info.data_choices) + ",images:DIR}",
        help=data_help + f"'{SILHOUETTES}' are the animal silhouettes installed with the project "
        f"(works offline); 'images:DIR' your own PNG/JPEG images in the folder DIR ({images}at any depth), "
        f"resized to the preset's size",
    )
    parser.add_argument(
        "--classes", default=info.default_classes,
        help="with --data silhouettes: comma-separated animals (bear, bird, cat, cow, dog, "
        "elephant, giraffe, horse, sheep, zebra) or 'all'",
    )
    if chapter == "04_02":
        parser.add_argument("--label", type=int, default=7,
                            help="CIFAR-10 class to learn (7 = horses, 1 = automobiles)")
    # With several presets (gdl-cgan's silhouettes and CIFAR) the defaults are --data's.
    def per_data(describe):
        """'(default: --data's preset: silhouettes …, cifar …)', each preset described."""
        values = ", ".join(f"{data} {describe(info.preset_for(data))}" for data in info.data_choices)
        return f"(default: --data's preset: {values})"

    def default_and_help(attribute, text):
        if not info.other_presets:
            return {"default": getattr(preset, attribute), "help": text}
        return {"default": None,
                "help": f"{text} {per_data(lambda data_preset: getattr(data_preset, attribute))}"}

    epochs = default_and_help("epochs", "training steps (the book's 'epochs': one batch each)")
    if epochs["default"] is not None:  # None marks "not given", so that --recipe can choose
        epochs = {"default": None, "help": f"{epochs['help']}, or the modern recipe's own "
                                           f"(default: {epochs['default']})"}
    parser.add_argument("--epochs", type=int, **epochs)
    batch = default_and_help("batch_size", "images per step; --resume keeps the run's own unless given")
    if batch["default"] is not None:  # None marks "not given", so that --resume can keep the run's
        batch = {"default": None, "help": f"{batch['help']} (default: {batch['default']})"}
    parser.add_argument("--batch-size", type=int, **batch)
    parser.add_argument("--print-every", type=int, **default_and_help(
        "print_every_n_batches", "save a sample grid, weights and loss curves every N steps"))
    parser.add_argument("--run-id", default=info.run_id,
                        help="runs go to run/<section>/<run id>_<data>/ (the notebook's id by default)")
    parser.add_argument("--seed", type=int, default=None, help="seed Python, numpy and TensorFlow")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=None,
                        help="the Keras backend to train on (default: KERAS_BACKEND, else tensorflow); "
                             "a run folder continues on any of them")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run saved in the run folder (weights, optimizer, epoch)")
    parser.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                        help="do not write TensorBoard logs to the run folder's logs/")
    parser.add_argument("--quality-every", type=int, default=50,
                        help="score sample quality (FID, KID, precision, recall, density, coverage "
                        "against held-out real images) every N steps, within --quality-budget of the training "
                        "time; written to quality.json and quality.png")
    parser.add_argument("--quality-samples", type=int, default=None,
                        help="samples per draw (default: as many as held-out images, at most 1000)")
    parser.add_argument("--quality-draws", type=int, default=5,
                        help="draws of --quality-samples scored each time; the scores are their mean, "
                        "the Fréchet distance's spread between draws beside it (default: 5)")
    parser.add_argument("--quality-budget", type=float, default=0.1,
                        help="the most scoring may take, as a share of the training time ('inf': score every "
                        "--quality-every steps whatever it costs)")
    parser.add_argument("--no-quality", dest="quality", action="store_false",
                        help="do not score sample quality while training")
    if "n_critic" in preset.train_options:
        parser.add_argument("--n-critic", type=int, default=preset.train_options["n_critic"],
                            help="critic updates per generator update")
    elif not any(option.keyword == "n_critic" for option in info.options):
        parser.add_argument("--n-critic", type=int, default=None,
                            help="discriminator updates per generator update, each on its own real batch "
                            "(default: the loss's, 1)")
    if "clip_threshold" in preset.train_options:
        parser.add_argument("--clip-threshold", type=float,
                            default=preset.train_options["clip_threshold"],
                            help="critic weights are clipped into [-c, c] after each update")
    if "grad_weight" in preset.model:
        parser.add_argument("--grad-weight", type=float, default=preset.model["grad_weight"],
                            help="weight of the gradient penalty")
    if len(info.losses) > 1:
        from utils.chapters import LOSSES

        parser.add_argument("--loss", choices=info.losses, default=None, help="; ".join(
            f"{loss}: {LOSSES[loss][0]}" for loss in info.losses) + f" (default: {info.losses[0]}, "
            "or the --recipe's)")
    for option in info.options:
        settings = dict(option.settings)
        if option.preset_default:
            settings["help"] += " " + per_data(lambda data_preset, key=option.preset_default: (
                "on" if data_preset.model_options.get(key) else "off"))
        parser.add_argument(option.flag, **settings)
    binary = info.label_hacks
    add_hack_options(parser, binary_targets=binary)
    add_recipe_options(parser, preset)
    parser.add_argument("--mixed-precision", action="store_true",
                        help="float16 with loss scaling on GPUs, bfloat16 on CPUs with bfloat16 "
                        "instructions (avx512_bf16, amx_bf16, Arm bf16); elsewhere it stays float32 and "
                        "says why (outputs stay float32)")
    parser.add_argument("--distribute", choices=DISTRIBUTE, default="none",
                        help="none: one device; mirrored: every GPU of this machine; multi-worker: "
                        "the cluster described by TF_CONFIG (start the same command on every host). "
                        "--batch-size is the global batch, split across the replicas")
    parser.add_argument("--jit-compile", action="store_true",
                        help="compile the training step with XLA (often slower on CPUs; try it on GPUs)")
    return parser


def add_hack_options(parser, binary_targets):
    """The GAN hacks (``models.recipe.hacks``), off by default: label options only for 0/1 targets."""
    hacks = parser.add_argument_group("GAN hacks (off by default; see docs/beyond-the-book.md)")
    if binary_targets:
        hacks.add_argument("--label-smoothing", type=float, default=0.0,
                           help="one-sided: the discriminator's real targets become 1 - S")
        hacks.add_argument("--label-flip", type=float, default=0.0,
                           help="each discriminator target is swapped real/fake with probability P")
    hacks.add_argument("--instance-noise", type=float, default=0.0,
                       help="std of Gaussian noise added to every image the discriminator/critic sees")


def add_recipe_options(parser, preset):
    """--recipe and the modern recipe's parts (``models.recipe``); a part given explicitly wins
    over the recipe's choice."""
    from utils.presets import RECIPES

    chosen = ", ".join(f"{key} {value}" for key, value in preset.modern.items()) or "none measured yet"
    group = parser.add_argument_group(
        "Modern recipe (off by default: the book's recipe; see docs/beyond-the-book.md)")
    group.add_argument("--recipe", choices=RECIPES, default="book", help=(
        f"book: the chapter's own; modern: the parts the recipe search chose for it ({chosen})"))
    group.add_argument("--ema", type=float, default=None, metavar="DECAY", help=(
        "draw samples with an average of the generator's weights of this decay, e.g. 0.999 (0: off)"))
    group.add_argument("--ema-rampup", type=float, default=None, metavar="R", help=(
        "with --ema: cap the average's half-life at R times the updates so far, e.g. 0.05 (0: off)"))
    group.add_argument("--augment", default=None, metavar="POLICIES", help=(
        "differentiable augmentation of every image the discriminator/critic sees: "
        "comma-separated translation, cutout, color ('' : off)"))
    group.add_argument("--augment-probability", type=float, default=None, metavar="P", help=(
        "chance each augmentation hits an image (default 1; the start with --augment-target)"))
    group.add_argument("--augment-target", type=float, default=None, metavar="R", help=(
        "adapt the probability (ADA) so that this share of real images is scored real, e.g. 0.6"))
    group.add_argument("--augment-adjust-images", dest="augment_adjust_images", type=int, default=None,
                       metavar="N", help=(
        "with --augment-target: the probability can move from 0 to 1 over N real images (default 20000; "
        "ADA's is 500000)"))
    group.add_argument("--spectral-norm", action=argparse.BooleanOptionalAction, default=None, help=(
        "spectral normalisation of the discriminator's/critic's layers"))
    group.add_argument("--minibatch-std", action=argparse.BooleanOptionalAction, default=None, help=(
        "the batch's standard deviation as one more feature map of the discriminator's/critic's last conv"))
    group.add_argument("--r1", dest="r1_weight", type=float, default=None, metavar="GAMMA", help=(
        "R1 penalty gamma/2 * |grad D(real)|^2 on real images (0: off)"))
    group.add_argument("--r2", dest="r2_weight", type=float, default=None, metavar="GAMMA", help=(
        "R2 penalty gamma/2 * |grad D(fake)|^2 on generated images (0: off)"))
    group.add_argument("--r1-every", dest="r1_every", type=int, default=None, metavar="N", help=(
        "R1 and R2 in one step of N, at N times the weight (lazy regularisation, e.g. 16; 1: every step)"))
    group.add_argument("--lecam", dest="lecam_weight", type=float, default=None, metavar="LAMBDA", help=(
        "LeCam regularisation: the scores held near the running means of the other side's, e.g. 0.01 (0: off)"))
    group.add_argument("--adam", dest="adam_betas", type=adam_betas, default=None, metavar="B1,B2", help=(
        "train both networks with Adam at these betas instead of the book's optimiser, e.g. 0,0.99"))
    adversary = "critic" if "critic_learning_rate" in preset.model else "discriminator"
    group.add_argument("--d-dropout", type=float, default=None, metavar="RATE", help=(
        f"the {adversary}'s dropout rate (0: none; default: the preset's, "
        f"{preset.model[f'{adversary}_dropout_rate']})"))
    group.add_argument("--d-learning-rate", type=float, default=None, help=(
        f"the {adversary}'s learning rate (default: the preset's, {preset.model[f'{adversary}_learning_rate']})"))
    group.add_argument("--g-learning-rate", type=float, default=None, help=(
        f"the generator's learning rate (default: the preset's, {preset.model['generator_learning_rate']})"))


def adam_betas(text):
    """--adam's type: 'B1,B2', two numbers in [0, 1)."""
    try:
        betas = tuple(float(value) for value in text.split(","))
    except ValueError:
        betas = ()
    if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
        raise argparse.ArgumentTypeError(f"{text!r}: give beta_1,beta_2, two numbers in [0, 1), e.g. 0,0.99")
    return list(betas)


adam_betas.__name__ = "betas"


def recipe_options(args, preset):
    """The recipe's parts for the model: each given flag, else the chosen preset's (--recipe)."""
    from models.recipe.options import NAMES, Recipe

    defaults = Recipe().as_dict()
    return {name: (getattr(args, name) if getattr(args, name, None) is not None
                   else preset.model_options.get(name, defaults[name])) for name in NAMES}


def hack_options(args):
    from models.recipe.hacks import NAMES

    return {name: getattr(args, name) for name in NAMES if hasattr(args, name)}


def data_argument(choices):
    """--data's type: one of the chapter's data sets (``choices``) or ``images:DIR``, its name
    checked and its text kept (``data_spec`` reads it with --classes and --label)."""
    def check(text):
        name, _, detail = text.partition(":")
        if name == "images" and not detail:
            raise argparse.ArgumentTypeError("'images' takes the folder: --data images:DIR")
        if name not in (*choices, "images"):
            raise argparse.ArgumentTypeError(
                f"invalid choice: {text!r} (choose from {', '.join(choices)}, or images:DIR)")
        return text
    check.__name__ = "data"  # argparse names the type in its messages
    return check


def data_name(args):
    """The registry name of --data (``images`` for ``images:DIR``)."""
    return args.data.partition(":")[0]


def data_spec(args, conditional=False):
    """The data set of --data (with --classes or --label; a conditional model's CIFAR is all ten
    classes)."""
    from utils.data import sets

    return sets.parse(args.data, classes=getattr(args, "classes", None), label=getattr(args, "label", None),
                      conditional=conditional)


def quality_monitor(args, spec, preset, folder):
    """The training-time quality callback, or None (--no-quality, or no feature space offline)."""
    if not args.quality:
        return None
    from utils.evaluation.features import FeatureWeightsUnavailable
    from utils.evaluation.quality import monitor_for_run

    try:
        return monitor_for_run(spec, preset.input_dim, folder, every=args.quality_every,
                               n_samples=args.quality_samples, budget=args.quality_budget,
                               tensorboard=args.tensorboard, draws=args.quality_draws)
    except FeatureWeightsUnavailable as error:
        print(f"Sample quality will not be scored while training: {spec.run_name} is scored in the "
              f"'{spec.default_features}' feature space (the silhouette classifier knows only silhouettes "
              f"and drawings), whose weights are not here. {error}\n"
              "(train with --no-quality to silence this)", file=sys.stderr)
        return None


def chosen_preset(info, args):
    """The preset of --data for --recipe (the book's, or its modern recipe)."""
    try:
        return info.preset_for(data_name(args)).with_recipe(getattr(args, "recipe", "book"))
    except ValueError as error:
        refuse(info.command, f"--recipe {args.recipe}: {error}")


def adversary_argument(arguments, setting):
    """The book argument of the adversary's ``setting`` (``'dropout_rate'``...) in ``arguments``: the
    critic's where they name a critic, else the discriminator's."""
    return f"critic_{setting}" if f"critic_{setting}" in arguments else f"discriminator_{setting}"


def model_arguments(args, preset, num_classes=None):
    model = dict(preset.model)
    adversary_rate = adversary_argument(model, "learning_rate")
    for flag, name in (("d_learning_rate", adversary_rate), ("g_learning_rate", "generator_learning_rate")):
        if getattr(args, flag, None) is not None:
            model[name] = getattr(args, flag)
    if getattr(args, "d_dropout", None) is not None:
        dropout, value = fixed_argument("d_dropout", args, model)
        model[dropout] = value
    if "batch_size" in model:
        model["batch_size"] = args.batch_size
    if "grad_weight" in model:
        model["grad_weight"] = args.grad_weight
    if "num_classes" in model and num_classes is not None:
        model["num_classes"] = num_classes
    return model


def model_options(args, info):
    """The keyword-only options of the command's model: the GAN hacks, --loss where the model
    takes several, and the command's own options (``Chapter.options``, e.g. CGAN's, InfoGAN's)."""
    preset = chosen_preset(info, args)
    options = {**hack_options(args), **recipe_options(args, preset)}
    if len(info.losses) > 1:
        options["loss"] = args.loss or preset.model_options.get("loss", info.losses[0])
    for option in info.options:
        if option.to != "model":
            continue
        value = getattr(args, option.keyword)
        if value is None and option.preset_default:
            value = preset.model_options.get(option.preset_default, False)
        options[option.keyword] = value
    return options


def advised_command(command, argv, lower, resume):
    """The command line ``argv`` with the flags of ``lower`` set to its values (``--resume``
    added when ``resume``, removed otherwise), quoted for the shell."""
    kept, skip = [], False
    for token in argv:
        if skip:
            skip = False
            continue
        flag = token.split("=", 1)[0]
        if flag in lower or flag == "--resume":
            skip = flag != "--resume" and "=" not in token
            continue
        kept.append(token)
    kept += [part for flag, value in lower.items() for part in (flag, f"{value:g}")]
    return shlex.join([command, *kept, *(["--resume"] if resume else [])])


def given_options(chapter, argv):
    """The destinations of the options written on the command line ``argv`` (not defaulted)."""
    parser = build_parser(chapter)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


# Book arguments a resumed run cannot change: they build its networks.
FIXED_ON_RESUME = {"d_dropout": "--d-dropout", "grad_weight": "--grad-weight"}


def fixed_argument(name, args, arguments):
    """The book argument in ``arguments`` that the option ``name`` of ``FIXED_ON_RESUME`` writes, and
    the value it writes there (``--d-dropout 0``: no dropout layer, None)."""
    if name == "d_dropout":
        return adversary_argument(arguments, "dropout_rate"), args.d_dropout or None
    return "grad_weight", args.grad_weight


def fixed_changes(args, given, folder):
    """The book arguments of ``FIXED_ON_RESUME`` the command line writes with another value than the
    run's own, each said with the run's (its own value again is no change)."""
    from utils.runs.saved import read_params

    try:
        params = read_params(folder)
    except (OSError, ValueError):
        params = None  # unreadable here: the load that follows names why
    if not isinstance(params, dict):
        params = {}  # the book's params.pkl, a list: nothing to compare by name
    changes = []
    for name, flag in FIXED_ON_RESUME.items():
        if name not in given:
            continue
        argument, value = fixed_argument(name, args, params)
        if argument in params:
            if params[argument] == value:
                continue
            changes.append(f"{flag} {getattr(args, name)} (the run's: {params[argument]})")
        else:
            changes.append(flag)
    return changes


def options_asked_on_resume(info, args, given):
    """The model options a ``--resume`` command line asks for: each one written, and all the
    recipe chooses where ``--recipe`` is written."""
    from models.recipe.options import NAMES

    options = model_options(args, info)
    chosen = set(NAMES) | {"loss"} if "recipe" in given else set()
    return {name: value for name, value in options.items() if name in given or name in chosen}


def resume_with(info, args, given, folder, options):
    """Load the run in ``folder`` for --resume with what the command line asks: each option it
    writes is honoured and said, or refused by name (those that change what the checkpoint holds,
    and the book arguments that build the networks)."""
    from models.recipe.options import checkpoint_differences
    from utils.loaders import load_model
    from utils.runs.saved import options_against_record, recorded_options

    fixed = fixed_changes(args, given, folder)
    asked = options_asked_on_resume(info, args, given)
    recorded = recorded_options(folder)
    differ = checkpoint_differences(recorded, asked) if folder.run_record.exists() else {}
    if "loss" in asked and "loss" in recorded and asked["loss"] != recorded["loss"]:
        differ["loss"] = (recorded["loss"], asked["loss"])  # its loss history has the loss's columns
    if fixed or differ:
        named = fixed + [f"{name} {new!r} (the run's: {old!r})" for name, (old, new) in differ.items()]
        refuse(info.command, f"--resume cannot change {', '.join(named)}: the run's checkpoint and networks "
                             f"were built with its own. Drop {'them' if len(named) > 1 else 'it'}, or start a "
                             f"new run with {'them' if len(named) > 1 else 'it'} (--run-id).")
    model = load_model(info.model_class, folder, **options, **asked)
    _, changed = options_against_record(model, recorded)
    changes = [said for name, said in changed.items() if name in asked]
    rates = {role: getattr(args, flag) for role, flag in (("adversary", "d_learning_rate"),
                                                          ("generator", "g_learning_rate")) if flag in given}
    changes += [f"the {role}'s learning rate {new} (was {old})"
                for role, (old, new) in model.set_learning_rates(**rates).items() if old != new]
    if changes:
        model.save(folder)  # run.json and params.json follow
        print(f"{info.command}: --resume trains on with {', '.join(changes)} from epoch {model.epoch} "
              f"({folder.run_record.name} and {folder.params_json.name} record it).", file=sys.stderr)
    return model


def resumed_batch_size(args, folder, command):
    """On --resume, the batch size the run trained at (its checkpoint records it), unless
    --batch-size asks for another, which is then said."""
    from utils.runs.checkpoint import read_training_state

    try:
        recorded = (read_training_state(folder.checkpoint) or {}).get("batch_size")
    except (OSError, KeyError, ValueError):
        return  # a damaged checkpoint is named when the run is loaded
    if not recorded:
        return
    if not args.batch_size_given:
        args.batch_size = recorded
    elif args.batch_size != recorded:
        print(f"{command}: --resume --batch-size {args.batch_size}: the run trained at batch size "
              f"{recorded} so far and goes on at {args.batch_size} (each step from now on sees "
              f"{args.batch_size} images; the epochs and the loss history keep counting steps).",
              file=sys.stderr)


def train_options(args, preset, info):
    """The keywords of ``train`` the command passes: the preset's (n_critic, clip_threshold) and
    the command's own (gdl-cgan's --n-critic)."""
    options = {name: getattr(args, name) for name in preset.train_options}
    if "n_critic" not in options and getattr(args, "n_critic", None) is not None:
        options["n_critic"] = args.n_critic
    options.update({option.keyword: getattr(args, option.keyword) for option in info.options
                    if option.to == "train"})
    return options


def run(chapter, argv=None):
    info = chapter_info(chapter)
    args = build_parser(chapter).parse_args(argv)
    choose_backend(args.backend, info.command)
    distributed_backend = args.backend or os.environ.get("KERAS_BACKEND", "tensorflow")
    if args.distribute != "none" and distributed_backend != "tensorflow":
        refuse(info.command, f"--distribute {args.distribute} is TensorFlow's tf.distribute; with "
                             f"{distributed_backend} leave it out (one device per process; to split batches over "
                             "several devices on JAX, see keras.distribution in docs/backends.md), or "
                             "train with --backend tensorflow.")
    preset = chosen_preset(info, args)
    args.batch_size_given = args.batch_size is not None
    for name, preset_value in (("epochs", preset.epochs), ("batch_size", preset.batch_size),
                               ("print_every", preset.print_every_n_batches)):
        if getattr(args, name) is None:
            setattr(args, name, preset_value)
    n_critic = getattr(args, "n_critic", None)  # None: the model's default (gdl-cgan)
    if n_critic is not None and n_critic < 1:
        refuse(info.command, f"--n-critic must be at least 1 (got {n_critic}).")
    for name in ("epochs", "batch_size", "print_every", "quality_every"):
        if getattr(args, name) < 1:
            refuse(info.command, f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)}).")
    given = list(argv if argv is not None else sys.argv[1:])
    args.argv = given
    args.given = given_options(chapter, given)
    asked = model_options(args, info)
    if not asked.get("augment") and {"augment_target", "augment_probability", "augment_adjust_images"} & args.given:
        refuse(info.command, "--augment-target, --augment-probability and --augment-adjust-images set the "
                             "augmentation's strength, and no augmentation is on: add --augment translation,cutout "
                             "(or leave them out).")
    if not asked.get("augment_target") and "augment_adjust_images" in args.given:
        refuse(info.command, "--augment-adjust-images sets how fast the adaptive augmentation moves, and it is not "
                             "adaptive: add --augment-target 0.6 (or leave it out).")
    resume = shlex.join([info.command, *given, *([] if "--resume" in given else ["--resume"])])
    try:
        return _train(info, args, resume)
    except KeyboardInterrupt:
        # Before training started, or a second Ctrl-C during a save: saves are atomic.
        sys.stderr.write("\nStopped at once. Whatever the run folder held before is whole; "
                         f"if a run was saved there, continue it with:\n  {resume}\n")
        sys.exit(128 + signal.SIGINT)


def _train(info, args, resume):
    preset = chosen_preset(info, args)
    try:
        strategy = make_strategy(args.distribute)
    except ValueError as error:
        refuse(info.command, str(error))
    replicas = strategy.num_replicas_in_sync if strategy else 1

    import keras
    from models.arguments import check_batch_fits
    from utils.runs.callbacks import TrainingDiverged, TrainingInterrupted, is_chief
    from utils.runs.folder import RunFolder, RunFolderBusy, RunFolderError, RunFolderTaken

    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    if args.quality_samples is not None and args.quality_samples < 4:
        refuse(info.command, f"--quality-samples must be at least 4 (got {args.quality_samples}).")
    if args.d_dropout is not None and not 0 <= args.d_dropout < 1:
        refuse(info.command, f"--d-dropout is a rate in [0, 1) (0: no dropout); got {args.d_dropout}.")
    if args.quality_draws < 1:
        refuse(info.command, f"--quality-draws must be at least 1 (got {args.quality_draws}).")
    if not args.quality_budget > 0:
        refuse(info.command, f"--quality-budget is a share of the training time above 0, or inf (got {args.quality_budget}).")
    try:
        spec = data_spec(args, conditional=info.conditional)
    except ValueError as error:
        refuse(info.command, str(error))
    data_name = spec.run_name
    try:
        folder = RunFolder.for_run(preset.section, args.run_id, data_name)
    except (OSError, ValueError) as error:
        refuse(info.command, str(error))
    if args.resume:
        resumed_batch_size(args, folder, info.command)
    if args.batch_size % replicas:
        refuse(info.command, f"--batch-size {args.batch_size} must be divisible by the {replicas} replicas of "
                 f"--distribute {args.distribute} (each replica trains on batch size / replicas).")
    labelled, num_classes = {}, None
    try:
        if info.conditional:
            x_train, y_train, class_names = spec.load_labelled(preset.input_dim)
            labelled, num_classes, using_generator = dict(y_train=y_train), len(class_names), False
        else:
            x_train, using_generator = spec.load_training(preset.input_dim, args.batch_size)
        if not using_generator:
            check_batch_fits(args.batch_size, len(x_train), f"--batch-size {args.batch_size}",
                             f"training images of {data_name}")
    except (OSError, ValueError) as error:
        refuse(info.command, str(error))
    quality = quality_monitor(args, spec, preset, folder)
    options = dict(mixed_precision=args.mixed_precision, jit_compile=args.jit_compile,
                   strategy=strategy)
    # The lock is taken here, once: the run is built or loaded, saved and trained while the
    # folder is held, and ``train`` is given the held folder. Non-chief workers of a cluster
    # read the run folder but never write it, so only the chief holds it.
    chief = is_chief(strategy)
    holding = folder.locked() if chief else contextlib.nullcontext()
    try:
        with holding:
            if args.resume:
                if not folder.holds_run():
                    refuse(info.command, f"Nothing to resume: {folder} holds no saved run. Drop --resume to start one.")
                model = resume_with(info, args, args.given, folder, options)
                print(f"Resuming {folder} at epoch {model.epoch}.")
            else:
                if folder.holds_run():
                    refuse(info.command, f"{folder} already holds a run. Pass --resume to continue it, "
                             f"or --run-id to start a new one next to it.")
                model = info.model_class(**model_arguments(args, preset, num_classes),
                                         **model_options(args, info), **options)
                if chief:
                    model.save(folder)
                    spec.write(folder)
                print(f"Training {info.model_class.__name__} on {data_name} into {folder}")
            if not info.conditional:
                labelled = dict(using_generator=using_generator)
            model.train(
                x_train, **labelled, batch_size=args.batch_size, epochs=args.epochs,
                run_folder=folder, print_every_n_batches=args.print_every,
                tensorboard=args.tensorboard, callbacks=[quality] if quality else [],
                **train_options(args, preset, info),
            )
            if chief:
                model.save_model(folder)
    except TrainingInterrupted as stop:
        sys.stderr.write(f"\n{signal.Signals(stop.signum).name}: stopped after epoch {stop.epoch}; "
                         f"the run is saved in {folder}. Continue it with:\n  {resume}\n")
        sys.exit(128 + stop.signum)
    except TrainingDiverged as error:
        again = advised_command(info.command, args.argv, error.lower, resume=error.kept_epoch is not None)
        if error.kept_epoch is None:
            sys.exit(f"\n{error}\nStart again with:\n  {again}")
        sys.exit(f"\n{error}\nContinue from the last good checkpoint (epoch {error.kept_epoch}) with:\n  {again}")
    except (RunFolderBusy, RunFolderTaken, RunFolderError, ValueError) as error:  # SavedRunError too
        sys.exit(f"{info.command}: {error}")
    if not chief:
        print(f"\nDone: epoch {model.epoch} on this worker; the cluster's chief writes {folder}.")
        return model
    if not folder.checkpoint.exists():
        sys.exit(f"{info.command}: training ended at epoch {model.epoch} but {folder.checkpoint} "
                 "was not written; nothing of this run is saved.")
    scored = f", sample quality in {folder.quality_plot}" if quality and quality.records else ""
    print(f"\nDone: epoch {model.epoch}. Samples in {folder.images}, loss curves in "
          f"{folder.loss_plot}{scored}; TensorBoard: tensorboard --logdir {folder.path.parent.parent}\n"
          f"Evaluate it: gdl-eval {folder}")
    return model


class Refused(SystemExit):
    """Bad input: the command stops with status 2 (argparse's); ``str()`` is the line it printed."""

    def __init__(self, message):
        super().__init__(2)
        self.message = message

    def __str__(self):
        return self.message


def refuse(command, message):
    """Stop on bad input: one line naming what was asked and the fix, exit status 2 (argparse's)."""
    print(f"{command}: {message}", file=sys.stderr)
    raise Refused(f"{command}: {message}")


def choose_backend(backend, command="gdl"):
    """Make ``backend`` (None: leave it) the Keras backend of this process: set before Keras is
    imported, or refused with the command to run when Keras already runs on another; a backend
    (asked here or by KERAS_BACKEND) that cannot run here is named with how to install it."""
    from utils.backends import problem

    asked = backend or os.environ.get("KERAS_BACKEND")
    if asked and "keras" not in sys.modules:
        trouble = problem(asked, f"--backend {asked}" if backend else f"KERAS_BACKEND={asked}")
        if trouble:
            refuse(command, trouble)
    if backend is None:
        return
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != backend:
            sys.exit(f"--backend {backend}: Keras already runs on {keras.backend.backend()} in this "
                     f"process; start a new one (KERAS_BACKEND={backend} python ...).")
        return
    os.environ["KERAS_BACKEND"] = backend


def main_gan(argv=None):
    run("04_01", argv)


def main_wgan(argv=None):
    run("04_02", argv)


def main_wgangp(argv=None):
    run("04_03", argv)


def main_cgan(argv=None):
    run("cgan", argv)


def main_infogan(argv=None):
    run("infogan", argv)


if __name__ == "__main__":  # python -m utils.commands.cli CHAPTER ARGS (the recipe search runs it so)
    run(sys.argv[1], sys.argv[2:])
