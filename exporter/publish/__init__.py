"""Publishing a snapshot: the Prometheus exposition (the only place that knows metric names), the
HTTP server and its TLS and basic auth, and the HTML report.

Reads snapshots; never computes a statistic. May import every layer below.
"""
