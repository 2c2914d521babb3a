"""Summaries and results: the bucket's fields and groups that components fill, and the immutable
result types an update produces (the snapshot).

May import ``values`` and ``config``. Components, windows, the exposition and the report all speak
these types, so they sit below all of them.
"""
