"""Preparation: a raw chunk of rows becomes a PreparedBatch of per-row arrays (timestamps, binned
features, outputs and labels, ids, segments), with every unusable row counted; duplicate ids; the
label join that gives late labels to their predictions.

No DataFrame passes above this layer. May import ``baseline`` and everything below it.
"""
