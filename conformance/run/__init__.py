"""Running backends: which backends a run has, their process isolation, and running one case."""
