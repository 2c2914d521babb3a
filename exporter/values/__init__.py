"""Values as logged: canonical keys of classes and categories, text, numbers, timestamps, durations,
and the words the exporter counts things by.

The lowest layer: pure functions of pandas/Arrow columns and of strings. It imports nothing of the
exporter's; everything above reads a logged value through it, so ``1``, ``1.0`` and ``True`` are one
key and a blank cell is missing the same way wherever a row is read.
"""
