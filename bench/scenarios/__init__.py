"""Load scenarios: a runtime driven by the official MLPerf LoadGen (`mlperf_loadgen`)."""
