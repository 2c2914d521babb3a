"""The commands of ``model-monitor``, one module each: ``serve`` (with its scheduler), ``check``, ``baseline``,
``report``, ``backtest``, ``demo`` and ``webhook``, and what they share (:mod:`~exporter.commands.common`);
:mod:`exporter.cli` parses the command line and calls them. The exit codes are defined here, once.

May import every layer below, the mixin included (the backtest replays the generated rules).
"""

#: ``check --fail-on-alert``: a check failed.
EXIT_ALERT = 1
#: A configuration or usage error, said in one line.
EXIT_CONFIG = 2
