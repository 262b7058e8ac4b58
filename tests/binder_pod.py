"""BinderHub's binder pod, started as far as its configuration: what BinderHub checks and pushes
images with, computed by BinderHub's own code from what Helm rendered and the hook wrote.

* The pod's files are the volumes of the rendered `binder` Deployment, materialized like the
  kubelet does (Secret and ConfigMap volumes, ``items``, projected volumes), from the objects given
  (rendered manifests, the hook's Secret and ConfigMap, or the stand-in API's objects).
* Its configuration is what BinderHub's chart's own ``binderhub_config.py`` (mounted from the
  rendered Secret ``binder-secret``, i.e. the file in BinderHub's chart) makes of them, run with the
  real ``traitlets`` as ``binderhub --config`` does at start, including the ``extraConfig`` snippets
  it executes. Files it opens by absolute path are served from the pod's files, so a path nothing
  is mounted at does not exist for it.
* :meth:`BinderPod.registry_client` is BinderHub's own registry client (tests/binderhub_client.py)
  made from that configuration and those files only.
"""

from __future__ import annotations

import base64
import builtins
import io
import posixpath
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from traitlets.config import Config

from tests.binderhub_client import BinderHubRegistry
from tests.fixtures_chart import binderhub_archive, built_chart

Obj = dict[str, Any]
Lookup = Callable[[str, str], Obj | None]  # (kind "Secret"|"ConfigMap", name) -> object or None


class PodStartError(Exception):
    """What would keep the binder pod in ContainerCreating or crash it at start."""


def lookup_in(objects: list[Obj]) -> Lookup:
    by_key = {(doc["kind"], doc["metadata"]["name"]): doc for doc in objects}
    return lambda kind, name: by_key.get((kind, name))


def _object_data(obj: Obj) -> dict[str, bytes]:
    if obj["kind"] == "ConfigMap":
        return {key: value.encode() for key, value in (obj.get("data") or {}).items()}
    data = {key: base64.b64decode(value) for key, value in (obj.get("data") or {}).items()}
    data.update({key: value.encode() for key, value in (obj.get("stringData") or {}).items()})
    return data


def _source_files(kind: str, source: Obj, lookup: Lookup) -> dict[str, bytes]:
    name = source.get("secretName") or source.get("name") or ""
    obj = lookup(kind, name)
    if obj is None:
        if source.get("optional"):
            return {}
        raise PodStartError(f"{kind} {name!r} does not exist: the binder pod stays in ContainerCreating")
    data = _object_data(obj)
    items = source.get("items") or [{"key": key, "path": key} for key in data]
    files = {}
    for item in items:
        if item["key"] not in data:
            raise PodStartError(f"{kind} {name!r} has no key {item['key']!r}: the binder pod stays in ContainerCreating")
        files[posixpath.normpath(item["path"])] = data[item["key"]]
    return files


def volume_files(volume: Obj, lookup: Lookup) -> dict[str, bytes]:
    """Files of one pod volume, by path relative to the mount point."""
    if "secret" in volume:
        return _source_files("Secret", volume["secret"], lookup)
    if "configMap" in volume:
        return _source_files("ConfigMap", volume["configMap"], lookup)
    if "projected" in volume:
        files: dict[str, bytes] = {}
        for source in volume["projected"]["sources"]:
            kind = "Secret" if "secret" in source else "ConfigMap"
            files.update(_source_files(kind, source[kind[0].lower() + kind[1:]], lookup))
        return files
    if "emptyDir" in volume or "hostPath" in volume:
        return {}
    raise NotImplementedError(f"volume {volume['name']!r}")


def run_binderhub_config(files: Mapping[str, bytes], config_path: str) -> Config:
    """Run ``config_path`` (from ``files``) the way traitlets loads a config file, with ``open``
    serving the pod's files."""
    def pod_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        normalized = posixpath.normpath(str(path))
        if normalized not in files:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        data = files[normalized]
        return io.BytesIO(data) if "b" in mode else io.StringIO(data.decode())

    config = Config()
    namespace = {"c": config, "get_config": lambda: config, "__file__": config_path, "__name__": "__main__",
                 "open": pod_open, "__builtins__": builtins}
    exec(compile(files[config_path].decode(), config_path, "exec"), namespace)  # noqa: S102 (BinderHub's own code)
    return config


@dataclass
class BinderPod:
    config: Config
    files: dict[str, bytes]
    env: dict[str, str]

    @classmethod
    def start(cls, deployment: Obj, lookup: Lookup) -> BinderPod:
        spec = deployment["spec"]["template"]["spec"]
        (container,) = [c for c in spec["containers"] if c["name"] == "binder"]
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        files: dict[str, bytes] = {}
        for mount in sorted(container.get("volumeMounts", []), key=lambda m: posixpath.normpath(m["mountPath"]).count("/")):
            if mount.get("subPath"):
                raise NotImplementedError("subPath mounts")
            target = posixpath.normpath(mount["mountPath"])
            for path in [p for p in files if p == target or p.startswith(target + "/")]:
                del files[path]  # a mount hides what lies below it
            files.update({posixpath.join(target, rel): data for rel, data in volume_files(volumes[mount["name"]], lookup).items()})
        env = {"HOME": "/root"}  # the binder image runs as root; the chart sets no DOCKER_CONFIG
        env.update({item["name"]: item["value"] for item in container.get("env", []) if "value" in item})
        args = container["args"]
        return cls(run_binderhub_config(files, args[args.index("--config") + 1]), files, env)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.config[name]) if name in self.config else {}

    def registry_client(self, route: Callable[[str], str] = lambda url: url) -> BinderHubRegistry:
        """BinderHub's registry (``BinderHub.registry_class``) as this pod makes it; ``route`` stands
        in for cluster DNS (a Service URL to a loopback address)."""
        return BinderHubRegistry(self.config, self.files, self.env, route)


def rendered(helm: Path, *args: str) -> list[Obj]:
    """`helm template ARGS`: the documents."""
    result = subprocess.run([str(helm), "template", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def one_release_binder_pod(helm: Path, values: Path, hook_objects: list[Obj]) -> BinderPod:
    """`helm install binderhub ./chart -f values`: the binder pod, with the hook's Secret and ConfigMap."""
    docs = rendered(helm, "binderhub", str(built_chart()), "--namespace", "binder", "-f", str(values))
    return BinderPod.start(deployment_named(docs, "binder"), lookup_in(docs + hook_objects))


def companion_binder_pod(helm: Path, binderhub_values: str, hook_objects: list[Obj], workdir: Path,
                         own_values: dict[str, Any] | None = None) -> BinderPod:
    """`helm upgrade --install binder jupyterhub/binderhub -f own -f binderhub-values.yaml`, as
    NOTES.txt tells companion users, with the hook's Secret and ConfigMap."""
    files = []
    if own_values is not None:
        files += ["-f", str(_write(workdir / "own-values.yaml", yaml.safe_dump(own_values)))]
    files += ["-f", str(_write(workdir / "binderhub-values.yaml", binderhub_values))]
    docs = rendered(helm, "binder", str(binderhub_archive()), "--namespace", "binder", *files)
    return BinderPod.start(deployment_named(docs, "binder"), lookup_in(docs + hook_objects))


def deployment_named(docs: list[Obj], name: str) -> Obj:
    (deployment,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
    return deployment


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
