"""Sources: incremental readers of prediction and label logs, and the table formats they read.

Files (JSON Lines, CSV, Parquet, following rotation) and SQL tables or queries yield chunks of new
rows with the cursor each would leave behind. They know files and connections, never statistics,
windows or metric names. May import ``values``, ``memory`` and ``config``. The reference is read with
the same table readers, which is why this layer sits below ``baseline``.
"""
