"""Running a standalone reproducer where this project cannot be imported.

The script runs under the backend's interpreter with ``PYTHONPATH`` naming only a folder
whose ``sitecustomize`` puts an import hook first that refuses this project's packages,
so the script and the child it starts fail if either reaches for the project.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROJECT_PACKAGES = ("reference", "adapters", "conformance")
BLOCKER = f'''"""Makes this project's packages unimportable: a standalone reproducer must not need them."""
import sys


class ProjectBlocked:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {PROJECT_PACKAGES!r}:
            raise ModuleNotFoundError(f"{{name}} is not importable here: a standalone reproducer must not need it")
        return None


sys.meta_path.insert(0, ProjectBlocked())
'''
# The longest a standalone reproducer may take (its own child has a longer limit).
STANDALONE_TIMEOUT = 900


@dataclass(frozen=True)
class StandaloneRun:
    """A script's exit status (None: it did not finish in time) and its output."""

    exit_status: int | None
    output: str


def project_blocked_environment(folder: Path) -> dict[str, str]:
    """This process's environment with ``PYTHONPATH`` naming only ``folder``, where the
    import hook that refuses this project is written."""
    (folder / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    return {**{key: value for key, value in os.environ.items() if key != "PYTHONPATH"}, "PYTHONPATH": str(folder)}


def run_standalone(script: Path, python: str, timeout: float = STANDALONE_TIMEOUT) -> StandaloneRun:
    """Run ``script`` (from its own folder) under ``python`` where this project is not importable."""
    # The script runs from its own folder: a relative interpreter path is made absolute first
    # (not resolved: a virtual environment's python is a link that must stay one).
    python = os.path.abspath(python) if os.sep in python else python
    with tempfile.TemporaryDirectory() as folder:
        environment = project_blocked_environment(Path(folder))
        try:
            finished = subprocess.run(
                [python, script.name], cwd=script.parent, env=environment, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as expired:
            return StandaloneRun(None, str(expired.stdout or ""))
    return StandaloneRun(finished.returncode, finished.stdout + finished.stderr)
