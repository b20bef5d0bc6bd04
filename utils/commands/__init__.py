"""The console commands: the chapter commands (``gdl-gan``...), ``gdl-bench``, ``gdl-precision-check``."""
