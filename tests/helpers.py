"""Small helpers the tests share: run the real CLI as a process, write values files, push a real
image to a registry, decode what provision wrote, and the objects of a BinderHub installation."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.binderhub_client import BinderHubRegistry


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def last_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def documents(self) -> list[dict[str, Any]]:
        return [doc for doc in yaml.safe_load_all(self.stdout) if doc]

    def document(self, kind: str) -> dict[str, Any]:
        return next(doc for doc in self.documents() if doc["kind"] == kind)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> CliResult:
    """The CLI exactly as the hook Job runs it: a separate process."""
    full_env = {**os.environ, "BINDERHUB_REGISTRY_RETRY_SECONDS": "0.05", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "binderhub_registry", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class BoundedRun:
    result: CliResult
    seconds: float  # wall time of the process, start to exit
    max_rss_mib: float  # the process's peak resident memory (ru_maxrss)


# Forks the CLI from a small process and reports the CLI's own ru_maxrss: Linux counts in a child's
# peak the memory of the process it was forked from, so forking the CLI straight from pytest (which
# grows past 128 MiB over a full run) would report pytest's size, not the CLI's.
_RUSAGE_RUNNER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_cli_bounded(*args: str, kill_after: float, env: dict[str, str] | None = None) -> BoundedRun:
    """The CLI as a process, killed (code -9) after ``kill_after`` seconds, with its wall time and
    its own peak memory (ru_maxrss, read by a small parent that forks it)."""
    full_env = {**os.environ, "BINDERHUB_REGISTRY_RETRY_SECONDS": "0.05", **(env or {})}
    with tempfile.TemporaryDirectory() as tmp:
        out, err, rss = Path(tmp) / "out", Path(tmp) / "err", Path(tmp) / "rss"
        with out.open("w") as stdout, err.open("w") as stderr:
            started = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-c", _RUSAGE_RUNNER, str(rss), "-m", "binderhub_registry", *args],
                                    stdout=stdout, stderr=stderr, env=full_env, start_new_session=True)
            killer = threading.Timer(kill_after, _kill_group, (proc.pid,))
            killer.start()
            try:
                code = proc.wait()
            finally:
                killer.cancel()
            seconds = time.monotonic() - started
        killed = code == -signal.SIGKILL
        result = CliResult(-9 if killed else code, out.read_text(), err.read_text())
        max_rss_kib = float(rss.read_text()) if rss.exists() and not killed else float("nan")
    return BoundedRun(result, seconds, max_rss_kib / 1024)


def write_values(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


def provision_offline(tmp_path: Path, values: dict[str, Any], *extra: str) -> CliResult:
    """provision with --output -: the Secret and ConfigMap printed, no cluster."""
    return run_cli("provision", "--values", str(write_values(tmp_path / "values.yaml", values)), "--output", "-", *extra)


def binderhub_for(result: CliResult, binderhub_config_change: dict[str, Any] | None = None) -> BinderHubRegistry:
    """BinderHub's registry client in a binder pod of BinderHub's real chart given the printed
    `binderhub-values.yaml` (companion mode), configured at start by its own binderhub_config.py
    from the printed Secret and ConfigMap (tests/binder_pod.py). ``binderhub_config_change``
    (class -> traits; a trait set to None is removed) is merged into registry.json first."""
    from tests.binder_pod import companion_binder_pod  # noqa: PLC0415 (imports the chart fixtures)
    from tests.fixtures_registry import TOOLS_DIR  # noqa: PLC0415

    documents = result.documents()
    configmap = next(doc for doc in documents if doc["kind"] == "ConfigMap")
    if binderhub_config_change:
        registry_json = json.loads(configmap["data"]["registry.json"])
        for section, traits in binderhub_config_change.items():
            merged = {**registry_json["binderhubConfig"].get(section, {}), **traits}
            registry_json["binderhubConfig"][section] = {key: value for key, value in merged.items() if value is not None}
        configmap["data"]["registry.json"] = json.dumps(registry_json)
    with tempfile.TemporaryDirectory() as workdir:
        pod = companion_binder_pod(TOOLS_DIR / "helm4", configmap["data"]["binderhub-values.yaml"], documents, Path(workdir))
    return pod.registry_client()


def binder_deployment(namespace: str) -> dict[str, Any]:
    """BinderHub's own Deployment, as its chart creates it."""
    labels = {"app": "binder"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "binder", "namespace": namespace},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
                     "spec": {"containers": [{"name": "binder", "image": "quay.io/jupyterhub/k8s-binderhub:1.0.0"}]}}}}


def generic_values(url: str, username: str, password: str, repository: str = "binder", **extra: Any) -> dict[str, Any]:
    return {"registry": {"type": "generic", "generic": {"url": url, "repository": repository,
                                                         "username": username, "password": password, **extra}}}


def secret_docker_config(secret: dict[str, Any]) -> dict[str, Any]:
    """The docker config.json in a Secret as the API returns it (data base64-encoded)."""
    return json.loads(base64.b64decode(secret["data"]["config.json"]))


def write_secret_docker_config(result: CliResult, path: Path) -> Path:
    """The config.json of the Secret provision printed, as a file (what BinderHub mounts)."""
    path.write_text(json.dumps(secret_docker_config(result.document("Secret"))))
    return path


def secret_auth(secret: dict[str, Any]) -> tuple[str, str, str]:
    """The auths key, username and password of the one entry in a Secret's config.json."""
    (key, entry), = secret_docker_config(secret)["auths"].items()
    username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return key, username, password


def secret_key_file(secret: dict[str, Any]) -> dict[str, Any]:
    """The Google service account key file in a Secret's config.json."""
    _, username, password = secret_auth(secret)
    assert username == "_json_key"
    return json.loads(password)


def binderhub_config(configmap: dict[str, Any]) -> dict[str, Any]:
    """BinderHub's configuration by class, as the settings ConfigMap's registry.json gives it to
    BinderHub at start (BinderHub.image_prefix, DockerRegistry.url, ...)."""
    return dict(json.loads(configmap["data"]["registry.json"])["binderhubConfig"])


def secret_files(secret: dict[str, Any]) -> dict[str, bytes]:
    return {key: base64.b64decode(value) for key, value in secret["data"].items()}


def push_image(registry_url: str, repository: str, tag: str, auth: httpx.Auth | None = None,
               token: str | None = None) -> str:
    """Push a real one-layer OCI image (what BinderHub's build pods do) and return its digest."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=registry_url, auth=auth, headers=headers, timeout=10) as client:
        def blob(data: bytes) -> str:
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            start = client.post(f"/v2/{repository}/blobs/uploads/")
            start.raise_for_status()
            location = start.headers["Location"]  # keeps its _state query; digest is added to it
            put = client.put(f"{location}{'&' if '?' in location else '?'}digest={digest}", content=data)
            put.raise_for_status()
            return digest

        layer = b"binderhub-registry test layer"
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": blob(layer), "size": len(layer)}],
        }).encode()
        put = client.put(f"/v2/{repository}/manifests/{tag}", content=manifest,
                         headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        put.raise_for_status()
        return put.headers.get("Docker-Content-Digest", "")
