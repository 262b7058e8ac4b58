#!/usr/bin/env python3
"""Size and start-up time of the hook image (what every `helm install` pulls and starts).

Builds the image with ./scripts/build-image (reused when its inputs are unchanged) unless
--image names one, then prints its size (`podman image inspect`) and the median wall time of
`render` run in it as the chart runs it (uid 65532, read-only root, /tmp only; podman with
runc), next to: a container that only starts Python (`python -c pass`, the container runtime's
share), `render` in the image reading no bytecode (PYTHONPYCACHEPREFIX pointing at an empty
directory: what a start would cost without the bytecode compiled at build time), and `render`
in this checkout's .venv, outside any container.

Usage: .venv/bin/python benchmarks/image.py [--runs 7] [--image REF]"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.image.container import VALUES_PATH, build_image, podman_run  # noqa: E402

VENV_PYTHON = "/opt/binderhub-registry/bin/python"


def median_seconds(command: list[str], runs: int) -> tuple[float, float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--image", help="an image reference (default: ./scripts/build-image)")
    args = parser.parse_args()
    image = args.image
    if not image:
        built = build_image()
        if built.returncode != 0:
            raise SystemExit(f"./scripts/build-image failed: {built.stderr.strip()[-2000:]}")
        image = built.stdout.strip().splitlines()[-1]
    size = int(subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", image],
                              capture_output=True, text=True, check=True).stdout)
    print(f"image {image}: {size / 1e6:.1f} MB (limit 180 MB)")

    with tempfile.TemporaryDirectory() as tmp:
        values = Path(tmp) / "values.yaml"
        values.write_text(yaml.safe_dump({"registry": {"type": "generic", "generic": {
            "url": "https://registry.example.org", "repository": "binder", "username": "robot", "password": "bench-0123456789"}}}))
        mounts = {values: VALUES_PATH}
        render = ["render", "--values", VALUES_PATH]
        cases = {
            "render in the image": podman_run(image, *render, mounts=mounts),
            "python -c pass in the image": podman_run(image, "-c", "pass", options=["--entrypoint", VENV_PYTHON]),
            "render in the image, no bytecode": podman_run(image, *render, mounts=mounts,
                                                           env={"PYTHONPYCACHEPREFIX": "/tmp/no-bytecode"}),
            "render in .venv (no container)": [str(ROOT / ".venv" / "bin" / "python"), "-m", "binderhub_registry",
                                               "render", "--values", str(values)],
        }
        for name, command in cases.items():
            median, low, high = median_seconds(command, args.runs)
            print(f"{name:<34} median {median:.3f} s  (min {low:.3f}, max {high:.3f}, n={args.runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
