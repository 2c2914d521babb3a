"""The baseline: the binned reference (feature bins, method choice, calibrated drift thresholds),
its outputs and classes, drift scores against it, baseline files and SageMaker's files.

Built once from the reference, read by preparation and components. May import ``stats``, ``state``
(atomic writes), ``summary``, ``sources`` (reading the reference file), ``config``, ``values``.
"""
