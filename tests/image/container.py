"""Run the hook image exactly as the chart's hook Job runs it (tests and benchmarks/image.py)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import CliResult

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-image"
VALUES_PATH = "/etc/binderhub-registry/values/values.yaml"  # where the chart mounts the values
# As the chart runs the container: uid/gid 65532, read-only root, no capabilities, no privilege
# escalation, only /tmp writable (the chart's 64Mi emptyDir). Host network reaches the loopback
# registries of the tests.
AS_THE_CHART_RUNS_IT = ["--user", "65532:65532", "--read-only", "--tmpfs", "/tmp:size=64m", "--cap-drop", "ALL",
                        "--security-opt", "no-new-privileges", "--network", "host"]
# This machine's container runtime: crun fails here, runc needs these limits set explicitly
# (see /work/shared/reference/test-environment.md).
RUNTIME = ["--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def build_image() -> subprocess.CompletedProcess[str]:
    """./scripts/build-image: reuses the image when its inputs are unchanged; prints its reference last."""
    return subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1800)


def readable_by_the_hook(path: Path) -> Path:
    """Files mounted into the container must be readable by uid 65532."""
    path.chmod(0o644)
    return path


def podman_run(image: str, *args: str, mounts: dict[Path, str] | None = None, env: dict[str, str] | None = None,
               options: Sequence[str] = ()) -> list[str]:
    command = ["podman", "run", "--rm", *RUNTIME, *AS_THE_CHART_RUNS_IT, *options]
    for source, target in (mounts or {}).items():
        command += ["--volume", f"{readable_by_the_hook(source)}:{target}:ro"]
    for name, value in {"BINDERHUB_REGISTRY_RETRY_SECONDS": "0.05", **(env or {})}.items():
        command += ["--env", f"{name}={value}"]
    return [*command, image, *args]


def run_image(image: str, *args: str, **kwargs: object) -> CliResult:
    proc = subprocess.run(podman_run(image, *args, **kwargs), capture_output=True, text=True, timeout=120)  # type: ignore[arg-type]
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@contextmanager
def started_in_image(image: str, name: str, *args: str, **kwargs: object) -> Iterator[subprocess.Popen[str]]:
    """The container running in the background as ``name``; removed afterwards."""
    with running(podman_run(image, *args, options=["--name", name], **kwargs), name) as process:  # type: ignore[arg-type]
        yield process


@contextmanager
def running(command: list[str], name: str) -> Iterator[subprocess.Popen[str]]:
    """``podman run ... --name NAME ...`` in the background; the container is removed afterwards."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            subprocess.run(["podman", "rm", "--force", "--time", "0", name], capture_output=True)
            process.wait(timeout=60)


def container_name(test_name: str) -> str:
    return f"binderhub-registry-test-{os.getpid()}-{test_name}".replace("[", "-").replace("]", "")[:120]
