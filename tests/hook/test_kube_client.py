"""The hook talks to the cluster through the official client's lower layer (kubernetes.config and
kubernetes.client.rest, kube_client.py) without running the packages' __init__, which import
every generated API class and model, nor the kubeconfig plugins' libraries until one is used.
What users rely on: the writes reach the API server as the generated methods send them
(server-side apply under our field manager, force), the kubeconfig's token is used, errors keep
their sentences, and a later `import kubernetes` in the same process still gets the whole client."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import binder_deployment

SCRIPT = """
import json, sys
from binderhub_registry.kube import KubeWriter
writer = KubeWriter("binder")
writer.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}})
writer.mark_deployment("binder", "f1", roll=True)
rolled = writer.read_deployment("binder")["spec"]["template"]["metadata"]["annotations"]
missing = writer.read_secret("absent")
unused = sorted(m for m in sys.modules if m == "requests" or m.startswith(("kubernetes.client.models", "kubernetes.client.api.",
                                                       "pydantic", "requests.", "oauthlib.oauth2.rfc6749", "google.auth.crypt")))
from kubernetes.client import CoreV1Api, V1ConfigMap  # the whole client, on demand
import kubernetes
from google.auth.transport.requests import AuthorizedSession  # and the plugins' libraries
from requests_oauthlib import OAuth2Session
print(json.dumps({"rolled": rolled, "missing": missing, "unused": unused,
                  "whole": [CoreV1Api.__name__, V1ConfigMap.__name__, kubernetes.__version__, AuthorizedSession.__name__,
                            OAuth2Session.__name__]}))
"""


def clean_env(**variables: str) -> dict[str, str]:
    """Only ``variables`` and PATH, so that nothing of this machine's kubeconfig or cluster leaks
    in; PYTHONPATH stays when set (scripts/mutate puts its mutated copy of the package there)."""
    kept = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    return {"PATH": "/usr/bin:/bin", **kept, **variables}


def test_writes_reach_the_api_without_importing_the_generated_client(tmp_path, kube_api):
    kube_api.put(binder_deployment("binder"))
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60,
                          env=clean_env(KUBECONFIG=str(kubeconfig)))
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    assert outcome["unused"] == []
    assert outcome["rolled"] == {"binderhub-registry.jupyter.org/credential-fingerprint": "f1"} and outcome["missing"] is None
    assert outcome["whole"][:2] == ["CoreV1Api", "V1ConfigMap"] and outcome["whole"][3:] == ["AuthorizedSession", "OAuth2Session"]
    configmap = kube_api.get("configmaps", "binder", "settings")
    assert configmap["data"] == {"a": "1"}
    managers = [entry["manager"] for entry in configmap["metadata"]["managedFields"]]
    assert managers == ["binderhub-registry"]
    assert kube_api.deployment_history("binder", "binder")[-1] == {"binderhub-registry.jupyter.org/credential-fingerprint": "f1"}


def test_a_token_the_api_refuses_keeps_its_sentence(tmp_path, kube_api):
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", "not-a-token", "binder")
    proc = subprocess.run([sys.executable, "-c", "from binderhub_registry.kube import KubeWriter; KubeWriter().read_secret('x')"],
                          capture_output=True, text=True, timeout=60, env=clean_env(KUBECONFIG=str(kubeconfig)))
    assert "rejected the hook's credentials (401) when it tried to get secrets 'x'" in proc.stderr


def test_in_a_pod_only_the_in_cluster_loader_runs():
    """In a pod (KUBERNETES_SERVICE_HOST set) the in-cluster loader is used; without its mounted
    service-account token the sentence says so, and the kubeconfig loader's plugins (requests,
    oauthlib, google-auth) were never imported."""
    script = ("import sys\nfrom binderhub_registry.errors import InvalidConfiguration\nfrom binderhub_registry.kube import KubeWriter\n"
              "try:\n    KubeWriter()\nexcept InvalidConfiguration as exc:\n    print(exc.message)\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'oauthlib', 'requests_oauthlib')"
              " or m.startswith('kubernetes.config.kube_config')))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env=clean_env(KUBERNETES_SERVICE_HOST="10.0.0.1", KUBERNETES_SERVICE_PORT="443"))
    assert proc.returncode == 0, proc.stderr
    sentence, imported = proc.stdout.splitlines()
    assert sentence.startswith("No Kubernetes cluster configured (Service token file does not exist")
    assert imported == "[]"


def test_plugin_libraries_imported_before_stay_the_modules_they_were():
    """A process that imported google-auth before loading the kubeconfig loader keeps its live
    modules: replacing them with deferred ones would split its classes in two."""
    script = ("import sys, google.auth, google.auth.transport.requests\n"
              "before = {name: sys.modules[name] for name in ('google.auth', 'google.auth.transport.requests')}\n"
              "from binderhub_registry import kube_client\nkube_client.load(in_cluster=False)\n"
              "print(all(sys.modules[name] is module for name, module in before.items()))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=clean_env())
    assert (proc.returncode, proc.stdout.strip()) == (0, "True"), proc.stderr
