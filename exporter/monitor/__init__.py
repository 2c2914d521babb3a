"""The monitor of one model: building it from its configuration, the orchestrator of one update,
the pushdown ingest, its cumulative counters, the assembly of its saved parts and their migrations,
and the sharding of models between replicas.

May import every layer below; nothing here knows metric names or HTTP.
"""
