"""``gdl-eval RUN_FOLDER``: how good is a trained generator, in numbers and pictures?

Scores the run's samples against the real images of the data it trained on —
Fréchet distance, KID, precision, recall, density, coverage, each beside the
floor of held-out real images — counts the classes it covers, checks it for
memorisation, walks its latent space, and writes everything to
``<run>/eval/`` (``metrics.json``, pictures, ``summary.html``).
"""

import argparse

from utils.commands.help import DefaultsHelpFormatter


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gdl-eval", description=__doc__.split("\n\n")[0],
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("run_folder", help="a run folder written by gdl-gan, gdl-wgan, gdl-wgangp "
                        "or a notebook, e.g. run/gan/0001_silhouettes-horse")
    parser.add_argument("--features", default=None,
                        help="feature space: 'silhouette' (the shipped classifier; default for the "
                        "silhouettes and camels), 'inception' (InceptionV3 pool features; default for "
                        "CIFAR and CelebA) or a .keras model of your own")
    parser.add_argument("--classifier", default=None,
                        help="a silhouette classifier weights file (from gdl-train-classifier) "
                        "instead of the shipped one")
    parser.add_argument("--data", default=None,
                        help="the run's data when the folder does not record it: silhouettes:horse, "
                        "silhouettes:all, camel, cifar:7, celeb or images:DIR")
    parser.add_argument("--samples", type=int, default=None,
                        help="generated images per draw (default: as many as held-out images)")
    parser.add_argument("--draws", type=int, default=5,
                        help="draws of --samples images; the measures are their mean, the Fréchet "
                        "distance's spread and KID's standard error beside them")
    parser.add_argument("--reference", type=int, default=10000,
                        help="at most this many training images to compare with")
    parser.add_argument("--held-out", type=int, default=2000, help="at most this many held-out images")
    parser.add_argument("--seed", type=int, default=0, help="seeds the latent points and the image choice")
    return parser


def main(argv=None):
    """The console script: exits non-zero with a message when the run cannot be evaluated."""
    evaluate(argv)


def evaluate(argv=None):
    """Parse ``argv``, evaluate, print the table; returns the report (also in eval/metrics.json)."""
    args = build_parser().parse_args(argv)
    from utils.commands.cli import choose_backend, refuse

    choose_backend(None, "gdl-eval")
    for name, least in (("samples", 4), ("reference", 2), ("held_out", 2), ("draws", 1)):
        value = getattr(args, name)
        if value is not None and value < least:
            refuse("gdl-eval", f"--{name.replace('_', '-')} must be at least {least} (got {value}).")

    from utils.data import sets
    from utils.evaluation.features import FeatureWeightsUnavailable
    from utils.evaluation.report import EvaluationError, evaluate_run, format_table
    from utils.runs.folder import RunFolderError
    from utils.runs.saved import SavedRunError

    try:
        data = sets.parse(args.data) if args.data else None
        report = evaluate_run(args.run_folder, features=args.features, data=data,
                              n_samples=args.samples, n_reference=args.reference,
                              n_held_out=args.held_out, classifier=args.classifier, seed=args.seed,
                              draws=args.draws)
    except (EvaluationError, SavedRunError, FeatureWeightsUnavailable, FileNotFoundError,
            ValueError, RunFolderError) as error:
        refuse("gdl-eval", str(error))
    print(format_table(report))
    return report


if __name__ == "__main__":
    main()
