"""The console script's exit does what exiting must: exit handlers run (the Kubernetes client
deletes the certificate and key files it wrote from a kubeconfig), everything printed reaches the
pipe, and the exit code is main()'s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import generic_values, write_values

# An exit handler registered during the run, as the Kubernetes config loader registers the removal
# of its temporary certificate files.
WITH_AN_EXIT_HANDLER = """
import atexit, os, pathlib
import binderhub_registry.commands.render as render_command

real_run = render_command.run
def run(args, progress):
    marker = pathlib.Path(os.environ["MARKER"])
    marker.write_text("written during the run")
    atexit.register(marker.unlink)
    return real_run(args, progress)
render_command.run = run

from binderhub_registry.cli import entry_point
entry_point()
"""


def buffered(env: dict[str, str]) -> dict[str, str]:
    """Without PYTHONUNBUFFERED (the image sets it; a laptop may not): stdout to a pipe is buffered."""
    return {key: value for key, value in env.items() if key != "PYTHONUNBUFFERED"}


def test_exit_handlers_run_output_is_flushed_and_the_code_kept(tmp_path: Path):
    values = write_values(tmp_path / "values.yaml", generic_values("https://registry.example.org", "robot", "pw-0123456789abcdef"))
    marker = tmp_path / "temporary-key-file"
    proc = subprocess.run([sys.executable, "-c", WITH_AN_EXIT_HANDLER, "render", "--values", str(values)],
                          capture_output=True, text=True, timeout=60, env=buffered({**os.environ, "MARKER": str(marker)}))
    assert proc.returncode == 0, proc.stderr
    assert "kind: Secret" in proc.stdout and "kind: ConfigMap" in proc.stdout  # the whole of stdout, flushed to a pipe
    assert not marker.exists()  # the exit handler ran


def test_a_failing_run_exits_with_its_code_and_its_one_sentence(tmp_path: Path):
    values = write_values(tmp_path / "values.yaml", {"registry": {"type": "nonsense"}})
    proc = subprocess.run([sys.executable, "-m", "binderhub_registry", "render", "--values", str(values)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(".") and "registry.type" in proc.stderr and "Traceback" not in proc.stderr
