"""Judging a run: what the oracle expects, the tolerances and their reasons, comparisons, where an error sits, diagnoses, and the suite's power to notice a drift."""
