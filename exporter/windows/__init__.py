"""Windows: rings of bucket summaries per window and segment (the window store), and the
timelines of a failing check over a window's own buckets.

May import ``components`` (their fields and evaluation) and everything below.
"""
