"""The run folder: its layout (``folder``), checkpoints (``checkpoint``), the callbacks that write it
(``callbacks``) and reading a saved run back (``saved``)."""
