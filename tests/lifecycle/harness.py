"""Plays `helm install/upgrade/test/uninstall` against the stand-in Kubernetes API, running the
chart's hook Jobs and test Pods as local processes.

Why this exists: the riskiest bugs of a hook chart live between the chart and the code (a flag
the chart passes that the CLI doesn't know, a file mounted at a path the code doesn't read, a verb
missing from the Role, a hook that runs before the ServiceAccount it uses). No cluster can run
here, so this runner does what Helm and the kubelet would, from the manifests the REAL Helm
binaries render (`helm template`, Helm 3 and 4):

* hooks of an event are sorted the way Helm sorts them (weight, then kind in Helm's install order,
  then name), created in the API one by one, and each Job or Pod is waited for before the next;
  one second of the API server's clock passes while Helm waits for it (a finished container
  reaches Helm through the kubelet, the Job controller and Helm's watch), so what Helm creates
  after a hook is, by the server's clock, created after what the hook wrote;
  delete policies are applied like Helm (before-hook-creation before creating; hook-succeeded
  after all hooks of the event succeeded; hook-failed when one fails);
* a Pod runs its container's ``command``/``args`` as a process with the container's env, every
  mounted Secret, ConfigMap and emptyDir materialized as files under a per-pod root directory, and
  every absolute path in args and env rewritten into that root (so a path nothing is mounted at
  does not exist for the process, as in a container);
* the Pod's ServiceAccount must exist when the Pod is created (else it never starts, like the
  real Job controller's "error looking up service account"), its token is mounted unless
  ``automountServiceAccountToken: false``, and the process reaches the API with that identity,
  so RBAC decides what it may do;
* Jobs retry up to ``backoffLimit`` and honour ``podFailurePolicy`` FailJob exit-code rules;
* ordinary release resources are applied after pre-install/pre-upgrade hooks (an object that
  exists is merge-patched with the manifest, so what others set on it, such as the hook's restart
  annotation, stays, as with Helm's three-way merge or server-side apply) and deleted on uninstall
  after pre-delete hooks. Kinds the stand-in API does not serve (NetworkPolicies, PodDisruptionBudgets, ... of
  BinderHub's chart) are only recorded, in order, in ``Release.unserved``;
* a Deployment whose container command is on the PATH (this project's own) runs as one long-lived
  process per rollout (``workloads.py``): its listen address ``0.0.0.0:<containerPort>`` becomes a
  free loopback port, and the Services selecting it route ``http://<service>[.<namespace>.svc]:<port>``
  in other pods' args and env to that port (what cluster DNS and kube-proxy do); it is ready once
  its readiness probe answers 200. Other Deployments (BinderHub's, JupyterHub's) are only created.

Simpler than a cluster: one container per Pod, no init containers, no image (the command runs
from the test environment's PATH), no resource limits, no read-only root enforcement.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.lifecycle.workloads import Workloads
from tests.stand_ins.kube_api import KubeApiServer

Obj = dict[str, Any]
Mutation = Callable[[list[Obj]], list[Obj]]
PodEnv = Callable[[Obj, Obj], dict[str, str]]  # (pod spec, its ServiceAccount) -> extra env

# Helm's InstallOrder (pkg/release/util/kind_sorter.go), the part that matters here.
KIND_ORDER = ["Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
              "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
              "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
              "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
              "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
              "IngressClass", "Ingress", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
RESOURCES = {"Secret": ("v1", "secrets"), "ConfigMap": ("v1", "configmaps"), "ServiceAccount": ("v1", "serviceaccounts"),
             "Service": ("v1", "services"),
             "Pod": ("v1", "pods"), "Deployment": ("apps/v1", "deployments"), "Job": ("batch/v1", "jobs"),
             "Role": ("rbac.authorization.k8s.io/v1", "roles"), "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings")}
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class HookFailed(Exception):
    """What `helm install` reports when a hook fails; ``logs`` are the failed pod's output."""

    def __init__(self, event: str, name: str, reason: str, logs: str = "") -> None:
        super().__init__(f"{event} hook {name!r} failed: {reason}")
        self.event, self.name, self.reason, self.logs = event, name, reason, logs

    @property
    def last_log_line(self) -> str:
        lines = [line for line in self.logs.splitlines() if line.strip()]
        return lines[-1] if lines else ""


@dataclass
class PodRun:
    pod: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def logs(self) -> str:
        return self.stderr


@dataclass
class HookRun:
    event: str
    kind: str
    name: str
    runs: list[PodRun] = field(default_factory=list)


def hook_events(doc: Obj) -> list[str]:
    value = (doc.get("metadata", {}).get("annotations") or {}).get("helm.sh/hook", "")
    return [event.strip() for event in value.split(",") if event.strip()]


def hook_sort_key(doc: Obj) -> tuple[int, int, str]:
    annotations = doc["metadata"].get("annotations") or {}
    kind = doc["kind"]
    return (int(annotations.get("helm.sh/hook-weight", "0")), KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER),
            doc["metadata"]["name"])


def delete_policies(doc: Obj) -> set[str]:
    value = (doc["metadata"].get("annotations") or {}).get("helm.sh/hook-delete-policy", "before-hook-creation")
    return {policy.strip() for policy in value.split(",") if policy.strip()}


class Release:
    def __init__(self, kube: KubeApiServer, helm: Path, chart: Path, name: str, namespace: str, workdir: Path,
                 env: dict[str, str] | None = None, mutate: Mutation | None = None, pod_timeout: float = 180,
                 pod_env: PodEnv | None = None) -> None:
        self.kube, self.helm, self.chart, self.name, self.namespace = kube, helm, chart, name, namespace
        self.workdir = workdir
        self.env = env or {}
        self.mutate = mutate
        self.pod_timeout = pod_timeout
        self.manifests: list[Obj] = []
        self.history: list[HookRun] = []
        self.revision = 0
        self._pod_counter = 0
        self.unserved: list[Obj] = []
        # extra environment per pod, from its spec and ServiceAccount (e.g. a metadata server per identity)
        self.pod_env = pod_env
        self.workloads = Workloads(self)

    # -- helm verbs ---------------------------------------------------------------------------

    def render(self, values: list[Path], upgrade: bool = False) -> list[Obj]:
        """`helm template`; it always renders revision 1, so the revision Helm would assign is
        passed as rotation.revision (the chart's stand-in for .Release.Revision)."""
        self.revision += 1
        args = [str(self.helm), "template", self.name, str(self.chart), "--namespace", self.namespace,
                "--set", f"rotation.revision={self.revision}"]
        if upgrade:
            args.append("--is-upgrade")
        for path in values:
            args += ["-f", str(path)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise HookFailed("render", self.name, result.stderr.strip())
        docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return self.mutate(docs) if self.mutate else docs

    def install(self, values: list[Path]) -> list[HookRun]:
        self.manifests = self.render(values)
        runs = self.run_hooks("pre-install")
        self.apply_resources()
        self.workloads.roll()
        return runs + self.run_hooks("post-install")

    def upgrade(self, values: list[Path]) -> list[HookRun]:
        self.manifests = self.render(values, upgrade=True)
        runs = self.run_hooks("pre-upgrade")
        self.apply_resources()
        self.workloads.roll()
        return runs + self.run_hooks("post-upgrade")

    def test(self) -> list[HookRun]:
        return self.run_hooks("test")

    def uninstall(self) -> list[HookRun]:
        runs = self.run_hooks("pre-delete")
        self.workloads.stop()
        for doc in reversed(self.resources()):
            if doc["kind"] in RESOURCES:
                self.kube.delete(RESOURCES[doc["kind"]][1], self.namespace, doc["metadata"]["name"])
        self.unserved.clear()
        return runs + self.run_hooks("post-delete")

    # -- resources ------------------------------------------------------------------------------

    def resources(self) -> list[Obj]:
        return sorted((d for d in self.manifests if not hook_events(d)), key=lambda d: KIND_ORDER.index(d["kind"]))

    def apply_resources(self) -> None:
        for doc in self.resources():
            if doc["kind"] not in RESOURCES:
                self.unserved.append(doc)
            elif self.kube.get(RESOURCES[doc["kind"]][1], self.namespace, doc["metadata"]["name"]) is None:
                self.create(doc)
            else:
                self.patch(doc)

    def patch(self, doc: Obj) -> None:
        """Bring an existing object to the manifest, keeping what others set on it (merge patch)."""
        api_version, resource = RESOURCES[doc["kind"]]
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        path = f"{prefix}/namespaces/{self.namespace}/{resource}/{doc['metadata']['name']}"
        headers = {"authorization": f"Bearer {self.kube.admin_token}", "content-type": "application/merge-patch+json"}
        code, answer = self.kube.handle("PATCH", path, headers, json.dumps(doc).encode())
        if code >= 300:
            raise HookFailed("patch", doc["metadata"]["name"], f"{code}: {answer.get('message') if isinstance(answer, dict) else answer}")

    def create(self, doc: Obj, replace: bool = False) -> None:
        api_version, resource = RESOURCES[doc["kind"]]
        body = {**doc, "metadata": {**doc["metadata"], "namespace": self.namespace}}
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        base = f"{prefix}/namespaces/{self.namespace}/{resource}"
        headers = {"authorization": f"Bearer {self.kube.admin_token}", "content-type": "application/json"}
        if replace and self.kube.get(resource, self.namespace, doc["metadata"]["name"]) is not None:
            self.kube.delete(resource, self.namespace, doc["metadata"]["name"])
        code, answer = self.kube.handle("POST", base, headers, json.dumps(body).encode())
        if code >= 300:
            raise HookFailed("create", doc["metadata"]["name"], f"{code}: {answer.get('message') if isinstance(answer, dict) else answer}")

    # -- hooks ----------------------------------------------------------------------------------

    def run_hooks(self, event: str) -> list[HookRun]:
        hooks = sorted((d for d in self.manifests if event in hook_events(d)), key=hook_sort_key)
        executed: list[Obj] = []
        runs: list[HookRun] = []
        for doc in hooks:
            resource = RESOURCES[doc["kind"]][1]
            name = doc["metadata"]["name"]
            if "before-hook-creation" in delete_policies(doc):
                self.kube.delete(resource, self.namespace, name)
            self.create(doc)
            executed.append(doc)
            if doc["kind"] not in ("Job", "Pod"):
                continue
            run = HookRun(event, doc["kind"], name)
            runs.append(run)
            self.history.append(run)
            try:
                if doc["kind"] == "Job":
                    self.run_job(doc, run)
                else:
                    self.run_pod_to_completion(doc["spec"], name, run, event)
                self.kube.clock.advance(1)
            except HookFailed:
                if "hook-failed" in delete_policies(doc):
                    self.kube.delete(resource, self.namespace, name)
                raise
        for doc in reversed(executed):
            if "hook-succeeded" in delete_policies(doc):
                self.kube.delete(RESOURCES[doc["kind"]][1], self.namespace, doc["metadata"]["name"])
        return runs

    def run_job(self, job: Obj, run: HookRun) -> None:
        spec = job["spec"]
        backoff_limit = int(spec.get("backoffLimit", 6))
        fail_codes: set[int] = set()
        for rule in (spec.get("podFailurePolicy") or {}).get("rules", []):
            exit_codes = rule.get("onExitCodes")
            if rule.get("action") == "FailJob" and exit_codes and exit_codes.get("operator") == "In":
                fail_codes |= set(exit_codes["values"])
        failures = 0
        while True:
            pod = self.run_pod(spec["template"]["spec"], job["metadata"]["name"], run.event)
            run.runs.append(pod)
            if pod.exit_code == 0:
                return
            if pod.exit_code in fail_codes:
                raise HookFailed(run.event, run.name, f"job failed: PodFailurePolicy (exit code {pod.exit_code})", pod.logs)
            failures += 1
            if failures > backoff_limit:
                raise HookFailed(run.event, run.name, "job failed: BackoffLimitExceeded", pod.logs)

    def run_pod_to_completion(self, spec: Obj, name: str, run: HookRun, event: str) -> None:
        pod = self.run_pod(spec, name, event, generate_name=False)
        run.runs.append(pod)
        if pod.exit_code != 0:
            raise HookFailed(event, name, f"pod {name} failed (exit code {pod.exit_code})", pod.logs)

    # -- the kubelet part -------------------------------------------------------------------------

    def run_pod(self, spec: Obj, owner: str, event: str, generate_name: bool = True) -> PodRun:
        argv, env, root, pod_name = self.prepare_pod(spec, owner, event, generate_name)
        deadline = float(spec.get("activeDeadlineSeconds") or self.pod_timeout)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=root, timeout=min(deadline, self.pod_timeout))
        except subprocess.TimeoutExpired as exc:
            return PodRun(pod_name, 124, str(exc.stdout or ""), str(exc.stderr or "") + "\nDeadlineExceeded")
        return PodRun(pod_name, proc.returncode, proc.stdout, proc.stderr)

    def prepare_pod(self, spec: Obj, owner: str, event: str, generate_name: bool = True,
                    args: Callable[[list[str]], list[str]] | None = None) -> tuple[list[str], dict[str, str], Path, str]:
        """What the kubelet does before starting the container: argv, env, the pod's root, its name."""
        self._pod_counter += 1
        pod_name = f"{owner}-{self._pod_counter}" if generate_name else owner
        account = spec.get("serviceAccountName", "default")
        account_obj = self.kube.get("serviceaccounts", self.namespace, account)
        if account_obj is None:
            raise HookFailed(event, owner, f'pods "{pod_name}" is forbidden: error looking up service account '
                                           f'{self.namespace}/{account}: serviceaccount "{account}" not found')
        if len(spec["containers"]) != 1:
            raise NotImplementedError("the harness runs Pods with one container")
        container = spec["containers"][0]
        root = self.workdir / "pods" / pod_name
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes:
                raise HookFailed(event, owner, f'volumeMount "{mount["name"]}" has no volume')
            self.materialize(volumes[mount["name"]], root / mount["mountPath"].lstrip("/"), event, owner)

        # PATH and PYTHONPATH pass through unchanged (host paths, not the container's), so that
        # scripts/mutate's mutated copy of the package is the one that runs.
        passed = {key: os.environ[key] for key in ("PATH", "PYTHONPATH") if key in os.environ}
        env = {"LANG": "C.UTF-8", **self.env}
        automount = spec.get("automountServiceAccountToken", account_obj.get("automountServiceAccountToken", True))
        if automount:
            token_dir = root / SERVICE_ACCOUNT_DIR.lstrip("/")
            token_dir.mkdir(parents=True)
            token = self.kube.token_for_service_account(self.namespace, account)
            (token_dir / "token").write_text(token)
            (token_dir / "namespace").write_text(self.namespace)
            # The official client's in-cluster loader reads fixed paths; the same token reaches
            # it through a kubeconfig instead.
            env["KUBECONFIG"] = str(self.kube.write_kubeconfig(token_dir / "kubeconfig", token, self.namespace))
        if self.pod_env is not None:
            env.update(self.pod_env(spec, account_obj))
        for item in container.get("env", []):
            env[item["name"]] = self.env_value(item, pod_name)
        env = {**passed, **{key: self.workloads.route(self.rewrite(value, root)) for key, value in env.items()}}
        command = [*container.get("command", []), *container.get("args", [])]
        if args is not None:
            command = args(command)
        if not command:
            raise NotImplementedError("the harness needs an explicit container command (it has no image entrypoint)")
        executable = shutil.which(command[0], path=os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]))
        if executable is None:
            raise HookFailed(event, owner, f'exec: "{command[0]}": executable file not found in $PATH')
        argv = [executable, *(self.workloads.route(self.rewrite(arg, root)) for arg in command[1:])]
        return argv, env, root, pod_name

    @staticmethod
    def rewrite(value: str, root: Path) -> str:
        """Absolute paths inside the container live under the pod's root directory."""
        return str(root) + value if value.startswith("/") and not value.startswith(str(root)) else value

    def env_value(self, item: Obj, pod_name: str) -> str:
        if "value" in item:
            return str(item["value"])
        source = item.get("valueFrom", {})
        if "fieldRef" in source:
            return {"metadata.namespace": self.namespace, "metadata.name": pod_name}[source["fieldRef"]["fieldPath"]]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = self.kube.get("secrets", self.namespace, ref["name"]) or {}
            return base64.b64decode(secret.get("data", {})[ref["key"]]).decode()
        raise NotImplementedError(f"env source {source}")

    def materialize(self, volume: Obj, target: Path, event: str, owner: str) -> None:
        target.mkdir(parents=True, exist_ok=True)
        if "emptyDir" in volume:
            return
        if "projected" in volume:
            # Each source is a Secret or ConfigMap projected into the same directory.
            for source in volume["projected"]["sources"]:
                kind = "secret" if "secret" in source else "configMap"
                self.materialize_source(volume["name"], kind, source[kind], source[kind]["name"], target, event, owner)
            return
        for kind, key in (("secret", "secretName"), ("configMap", "name")):
            if kind in volume:
                self.materialize_source(volume["name"], kind, volume[kind], volume[kind][key], target, event, owner)
                return
        raise NotImplementedError(f"volume {volume}")

    def materialize_source(self, volume: str, kind: str, source: Obj, name: str, target: Path, event: str, owner: str) -> None:
        obj = self.kube.get("secrets" if kind == "secret" else "configmaps", self.namespace, name)
        if obj is None:
            if source.get("optional"):
                return
            raise HookFailed(event, owner, f'MountVolume.SetUp failed for volume "{volume}": {kind.lower()} "{name}" not found')
        decode = base64.b64decode if kind == "secret" else str.encode
        data = {k: decode(v) for k, v in (obj.get("data") or {}).items()}
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] not in data:
                raise HookFailed(event, owner, f'MountVolume.SetUp failed for volume "{volume}": '
                                               f'couldn\'t find key {item["key"]} in {kind} {self.namespace}/{name}')
            path = target / item["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data[item["key"]])
