"""Model Monitor: a Prometheus exporter that watches machine-learning models in production.

The package is layered; each sub-package may import the ones below it, never those above
(an import-linter contract in pyproject.toml checks it). Lowest first: ``values`` and ``memory``,
``config``, ``sources``, ``summary``, ``state``, ``stats``, ``baseline``, ``prepare``,
``components``, ``windows``, ``monitor``, ``publish``, ``mixin``, ``commands``, ``cli``.
docs/architecture.md draws them and follows one logged row through them.
"""
