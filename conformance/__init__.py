"""The LSTM conformance suite: cases, comparisons, tolerances, deviations, isolation and reports."""
