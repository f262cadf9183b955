"""Parity reports: the JSON record of a run, and the Markdown and HTML pages built from it."""
