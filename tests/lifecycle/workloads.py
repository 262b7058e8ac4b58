"""The harness's Deployments: each rollout runs one replica of every Deployment as a long-lived
local process (prepared like any pod by ``Release.prepare_pod``), and the Services that select it
route to it, as cluster DNS and kube-proxy would.

* a listen address ``0.0.0.0:<containerPort>`` in the container's args becomes a free loopback
  port (nothing here may bind a fixed port or a non-loopback address);
* ``http://<service>:<port>`` and ``http://<service>.<namespace>.svc[.cluster.local]:<port>`` in
  any pod's args and env become ``http://127.0.0.1:<that port>``, when the Service selects the
  pod and its ``targetPort`` (name or number) is one of the pod's container ports;
* the pod is ready when its readiness probe answers 200, probed once the process has written its
  first line of output (it binds before it writes); a pod that exits or is not ready fails the
  rollout with its output;
* a new rollout stops the old processes first (SIGTERM, then waits), like a Recreate strategy.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

Obj = dict[str, Any]


class RolloutFailed(Exception):
    pass


@dataclass
class RunningPod:
    deployment: str
    process: subprocess.Popen[str]
    port: int
    output: list[str] = field(default_factory=list)

    def logs(self) -> str:
        return "".join(self.output)


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Workloads:
    def __init__(self, release: Any) -> None:
        self.release = release
        self.pods: list[RunningPod] = []
        self.routes: dict[str, str] = {}

    def roll(self) -> None:
        self.stop()
        deployments = [d for d in self.release.resources() if d["kind"] == "Deployment" and self._runs_here(d)]
        for deployment in deployments:
            self.pods.append(self._start(deployment))
        for service in (d for d in self.release.resources() if d["kind"] == "Service"):
            self._route_service(service, deployments)
        for pod in self.pods:
            self._wait_ready(pod, next(d for d in deployments if d["metadata"]["name"] == pod.deployment))

    def stop(self) -> None:
        for pod in self.pods:
            if pod.process.poll() is None:
                pod.process.send_signal(signal.SIGTERM)
                pod.process.send_signal(signal.SIGTERM)  # second signal: no drain period in tests
                try:
                    pod.process.wait(30)
                except subprocess.TimeoutExpired:
                    pod.process.kill()
                    pod.process.wait(10)
        self.pods, self.routes = [], {}

    def route(self, value: str) -> str:
        for address, target in self.routes.items():
            value = value.replace(address, target)
        return value

    def logs(self, deployment: str) -> str:
        return "".join(pod.logs() for pod in self.pods if pod.deployment == deployment)

    @staticmethod
    def _runs_here(deployment: Obj) -> bool:
        """Only Deployments whose command is on the PATH (this project's own); BinderHub's and
        JupyterHub's images are not here."""
        command = (deployment["spec"]["template"]["spec"]["containers"][0].get("command") or [""])[0]
        return (
            bool(command)
            and shutil.which(command, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])) is not None
        )

    def _start(self, deployment: Obj) -> RunningPod:
        name = deployment["metadata"]["name"]
        spec = deployment["spec"]["template"]["spec"]
        ports = [p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])]
        port = _free_loopback_port()

        def listen_on_loopback(command: list[str]) -> list[str]:
            return [f"127.0.0.1:{port}" if arg in {f"0.0.0.0:{p}" for p in ports} else arg for arg in command]

        argv, env, root, _ = self.release.prepare_pod(spec, name, "deployment", args=listen_on_loopback)
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=root)
        pod = RunningPod(name, process, port)
        first_line = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                pod.output.append(line)
                first_line.set()
            first_line.set()

        threading.Thread(target=read, daemon=True, name=f"pod-{name}").start()
        first_line.wait(60)
        return pod

    def _route_service(self, service: Obj, deployments: list[Obj]) -> None:
        selector = service["spec"].get("selector") or {}
        for pod in self.pods:
            deployment = next(d for d in deployments if d["metadata"]["name"] == pod.deployment)
            if not _labels_match(selector, deployment["spec"]["template"]["metadata"].get("labels") or {}):
                continue
            name, namespace = service["metadata"]["name"], self.release.namespace
            container_ports = [p for c in deployment["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
            for port in service["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                if not any(target in (p.get("name"), p["containerPort"]) for p in container_ports):
                    continue  # the Service points at no port of the pod: nothing answers
                for host in (f"{name}.{namespace}.svc.cluster.local", f"{name}.{namespace}.svc", name):
                    self.routes[f"http://{host}:{port['port']}"] = f"http://127.0.0.1:{pod.port}"

    def _wait_ready(self, pod: RunningPod, deployment: Obj) -> None:
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        probe = (container.get("readinessProbe") or {}).get("httpGet")
        if pod.process.poll() is not None:
            raise RolloutFailed(f"Deployment {pod.deployment}: the pod exited ({pod.process.returncode}):\n{pod.logs()}")
        if probe is None:
            return
        try:
            ready = httpx.get(f"http://127.0.0.1:{pod.port}{probe['path']}", timeout=30).status_code == 200
        except httpx.HTTPError as exc:
            raise RolloutFailed(f"Deployment {pod.deployment}: readiness probe failed ({exc}):\n{pod.logs()}") from None
        if not ready:
            raise RolloutFailed(f"Deployment {pod.deployment}: not ready:\n{pod.logs()}")
