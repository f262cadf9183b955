"""Standalone reproducers: a case (or a registered deviation's reproducer) written out as a
script that needs only NumPy and the framework, for a framework's maintainers to run.

:mod:`.driver` is the part every script carries (running the backend in a child process,
judging its results against the stored expected values); :mod:`.payload` turns a check of
a case into the runs and comparisons the script makes; :mod:`.script` writes the script
and its data.
"""
