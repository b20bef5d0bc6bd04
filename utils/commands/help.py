"""One help layout for every command: defaults shown where they say something."""

import argparse


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: …)`` only where it informs: not to on/off switches (``--resume``'s
    "default: False" or ``--no-quality``'s "default: True" read as the opposite of what they
    mean), not to options without a default, and not where the help already states one."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        switch = isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
        if switch or action.default is None or "default" in help_text:
            return help_text
        return super()._get_help_string(action)
