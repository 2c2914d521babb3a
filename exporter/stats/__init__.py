"""Statistics as pure functions of counts: drift statistics and their null distributions,
performance metrics, calibration, histograms and binning.

No files, no windows, no configuration: numpy and scipy in, numbers out, each checked against an
exact reference implementation in the tests. May import ``values`` and ``summary`` (result types).
"""
