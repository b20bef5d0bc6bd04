"""The console commands: the chapter commands (``gdl-gan``...), ``gdl-eval``, ``gdl-bench``,
``gdl-precision-check``, the ablation (``python -m utils.commands.ablation``) and ``run_figure``."""
