"""Saved state: crash-safe persistence of named parts (a base file and an append-only journal).

Generic: it knows bytes, arrays and files, not what a part means. May import ``values``.
"""
