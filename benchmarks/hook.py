#!/usr/bin/env python3
"""Speed and memory of the hook where users wait for it (inside `helm install`): runs
`provision --output -` and `check` end to end against a real local token-auth registry several
times, as separate processes like the Job, and prints the median wall time and peak RSS; also
`provision` applying (what the Job does) to the stand-in Kubernetes API server
(tests/stand_ins/kube_api.py, admin kubeconfig via KUBECONFIG), which adds the Kubernetes client.
Budgets on the project's machines (2 cores): provision <= 1.2 s, check <= 1.0 s, peak <= 100 MiB.
Also prints the import time of the CLI's start-up path per registry type, of the Kubernetes
writer, and of the official client's generated CoreV1Api (which the writer avoids)."""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.stand_ins.kube_api import KubeApiServer  # noqa: E402
from tests.stand_ins.registry import Registry  # noqa: E402
from tests.stand_ins.token_server import TokenServer  # noqa: E402


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB (of this one child, via wait4), stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    stdout = proc.stdout.read() if proc.stdout else ""
    _, status, rusage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}")
    return elapsed, rusage.ru_maxrss / 1024, stdout


def report(name: str, runs: list[tuple[float, float]], budget_s: float) -> None:
    times = [t for t, _ in runs]
    peak = max(m for _, m in runs)
    print(f"{name:<22} median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f}, n={len(times)})"
          f"  peak RSS {peak:.1f} MiB   budget {budget_s} s / 100 MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    python = sys.executable
    users = {"bench": {"password": "bench-password-0123456789", "grants": [("*", {"pull", "push", "delete"})]}}
    with (TokenServer(users) as tokens, Registry(auth="token", token_server=tokens) as registry, KubeApiServer() as kube,
          tempfile.TemporaryDirectory() as tmp):
        values = Path(tmp) / "values.yaml"
        values.write_text(yaml.safe_dump({"registry": {"type": "generic", "generic": {
            "url": registry.url, "repository": "binder", "username": "bench", "password": users["bench"]["password"]}}}))
        provision = [python, "-m", "binderhub_registry", "provision", "--values", str(values), "--output", "-"]
        provision_runs, check_runs = [], []
        for _ in range(args.runs):
            elapsed, rss, stdout = measure(provision)
            provision_runs.append((elapsed, rss))
        secret = next(d for d in yaml.safe_load_all(stdout) if d and d["kind"] == "Secret")
        config = Path(tmp) / "config.json"
        config.write_bytes(base64.b64decode(secret["data"]["config.json"]))
        check = [python, "-m", "binderhub_registry", "check", "--values", str(values), "--docker-config", str(config)]
        for _ in range(args.runs):
            elapsed, rss, _ = measure(check)
            check_runs.append((elapsed, rss))
        # what the Job does: apply to the cluster (first run creates and rolls the `binder`
        # Deployment, later runs re-apply the same objects, like `helm upgrade`); the stand-in API
        # server runs in this process
        kube.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "binder", "namespace": "default"},
                  "spec": {"selector": {"matchLabels": {"app": "binder"}}, "template": {"metadata": {"labels": {"app": "binder"}},
                           "spec": {"containers": [{"name": "binder", "image": "binder"}]}}}})
        env = {**os.environ, "KUBECONFIG": str(kube.write_kubeconfig(Path(tmp) / "kubeconfig"))}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        apply_runs = []
        for _ in range(args.runs):
            elapsed, rss, _ = measure([python, "-m", "binderhub_registry", "provision", "--values", str(values)], env=env)
            apply_runs.append((elapsed, rss))
        if kube.get("secrets", "default", "binderhub-registry") is None or len(kube.deployment_history("default", "binder")) != 2:
            raise SystemExit("provision did not apply the Secret and roll the Deployment on the stand-in Kubernetes API")
    report("provision --output -", provision_runs, 1.2)
    report("check", check_runs, 1.0)
    report("provision (apply)", apply_runs, 1.2)

    imports = [f"import {module}" for module in ("binderhub_registry.providers.generic", "binderhub_registry.providers.dockerhub",
                                                 "binderhub_registry.providers.google", "binderhub_registry.kube")]
    imports.append("from kubernetes.client import CoreV1Api")
    for statement in imports:
        code = f"import time; t=time.perf_counter(); {statement}; print(time.perf_counter()-t)"
        samples = sorted(float(subprocess.run([python, "-c", code], capture_output=True, text=True).stdout or "nan") for _ in range(3))
        print(f"{statement:<47} median {samples[1]:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
