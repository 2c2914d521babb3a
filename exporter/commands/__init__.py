"""The commands of ``model-monitor``: ``serve`` (with its scheduler), ``backtest``, ``demo`` and
``webhook``; :mod:`exporter.cli` parses the command line and calls them.

May import every layer below, the mixin included (the backtest replays the generated rules).
"""
