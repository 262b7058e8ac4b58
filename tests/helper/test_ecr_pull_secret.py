"""registry.ecr.pullSecret helper: the registry helper keeps the pull Secret user pods pull with
holding a live ECR token, against moto (the real boto3 client), the real distribution behind the
ECR registry gate, and the Kubernetes API stand-in enforcing the chart's own Role (rendered by
Helm): it may get and patch that one Secret, never create it nor touch another. The token is the
token cache's (one GetAuthorizationToken per renewal for builds and Secret together), written at
start and again whenever the cache renews, 6 hours before the 12-hour token ends; a refused write
is one log line and a metric, and the helper keeps serving."""

from __future__ import annotations

import asyncio
import base64
import json
from functools import partial

import httpx
import pytest
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.helper_service.config import from_values
from binderhub_registry.helper_service.ecr_backend import EcrBackend
from binderhub_registry.helper_service.metrics import HelperMetrics
from binderhub_registry.helper_service.pull_secret import FIELD_MANAGER, RETRY_SECONDS, PullSecretKeeper
from binderhub_registry.helper_service.token_cache import TokenCache
from binderhub_registry.kube import KubeWriter

from tests.chart.test_chart import by_kind, template
from tests.chart.test_ecr_chart import ECR
from tests.helper.test_ecr_helper import PATH, Clock, values
from tests.helper_service_runner import running_helper
from tests.helpers import push_image

NS = "binder"
PULL = "binderhub-registry-pull"
HOURS = 3600.0


@pytest.fixture
def helper_kube(kube_api, helm_binaries, tmp_path, monkeypatch, aws):
    """The stand-in API with the chart's Role and RoleBinding for the helper, its ServiceAccount,
    and KUBECONFIG holding that account's token (what the pod mounts); AWS's access keys in env."""
    docs = template(helm_binaries, "4", ECR, "registry.ecr.pullSecret=helper")
    for doc in [*by_kind(docs, "Role"), *by_kind(docs, "RoleBinding"), *by_kind(docs, "ServiceAccount")]:
        kube_api.put({**doc, "metadata": {**doc["metadata"], "namespace": NS}})
    token = kube_api.token_for_service_account(NS, "binderhub-registry-helper")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kubeconfig = str(kube_api.write_kubeconfig(tmp_path / "kubeconfig", token, NS))
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    from kubernetes.config import kube_config  # read KUBECONFIG once, at its import

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    return kube_api


def hook_writes_the_pull_secret(kube_api) -> None:
    """What the hook's first provision leaves (ECR, before the helper starts)."""
    config = base64.b64encode(b'{"auths": {}}').decode()
    kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": PULL, "namespace": NS},
                  "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": config, "config.json": config}})


def helper_apply():
    kube = KubeWriter(NS, without_cluster="", who="the registry helper")
    return kube, partial(kube.apply, field_manager=FIELD_MANAGER)


def pull_credentials(kube_api) -> tuple[str, str, str]:
    secret = kube_api.get("secrets", NS, PULL)
    assert secret is not None
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert json.loads(base64.b64decode(secret["data"]["config.json"])) == config
    (key, entry), = config["auths"].items()
    username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return key, username, password


def gauge(metrics: str, name: str) -> float:
    (value,) = [float(line.split()[1]) for line in metrics.splitlines() if line.startswith(f"{name} ")]
    return value


def pulls(registry_url: str, repository: str, username: str, password: str) -> int:
    return httpx.get(f"{registry_url}/v2/{repository}/manifests/1", auth=httpx.BasicAuth(username, password),
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).status_code


def test_the_helper_writes_its_token_into_the_pull_secret_at_start_and_user_pods_pull_with_it(aws, helper_kube):
    hook_writes_the_pull_secret(helper_kube)
    _kube, apply = helper_apply()
    with running_helper(from_values(values(aws)), pull_secret=(PULL, apply)) as helper, \
            httpx.Client(base_url=helper.url, headers={"Authorization": f"Bearer {helper.auth_token}"}) as client:
        key, username, password = pull_credentials(helper_kube)
        assert (key, username) == (aws.registry.url, "AWS")
        build = client.post(f"/token/{PATH}x:1").json()
        assert build["password"] == password and aws.front.token_calls == 1  # one token for builds and pods
        ready = client.get("/healthz/ready")
        assert ready.status_code == 200 and ready.json()["pullSecret"].startswith("holds a token until ")
        metrics = client.get("/metrics").text
    assert 'binderhub_registry_helper_pull_secret_writes_total{result="written"} 1.0' in metrics
    assert 11 * HOURS < gauge(metrics, "binderhub_registry_helper_pull_secret_seconds_left") <= 12 * HOURS
    client_ecr = aws.client("ecr")
    client_ecr.create_repository(repositoryName=f"{PATH}x")
    push_image(aws.registry.url, f"{PATH}x", "1", auth=httpx.BasicAuth(username, password))
    assert pulls(aws.registry.url, f"{PATH}x", username, password) == 200


def test_the_helpers_role_lets_it_patch_the_pull_secret_only(aws, helper_kube):
    hook_writes_the_pull_secret(helper_kube)
    kube, _apply = helper_apply()
    other = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "binderhub-registry"}, "type": "Opaque", "data": {}}
    with pytest.raises(InvalidConfiguration, match="forbids the registry helper to patch secrets 'binderhub-registry'"):
        kube.apply(other, field_manager=FIELD_MANAGER)


def keeper(aws, clock, apply) -> tuple[PullSecretKeeper, HelperMetrics]:
    config = from_values(values(aws))
    metrics = HelperMetrics()
    tokens = TokenCache(EcrBackend(config, metrics, clock).mint, config.min_remaining_seconds, clock)
    return PullSecretKeeper(PULL, config.registry_url, config.token_user, tokens, apply, metrics), metrics


def test_the_pull_secret_is_renewed_6_hours_before_each_token_ends_with_one_token_call_per_renewal(aws, helper_kube):
    hook_writes_the_pull_secret(helper_kube)
    _kube, apply = helper_apply()
    clock = Clock()
    kept, _metrics = keeper(aws, clock, apply)
    waits: list[float] = []
    passwords: list[str] = []

    async def wait(seconds: float) -> None:  # the time passes for the helper and for AWS alike
        passwords.append(pull_credentials(helper_kube)[2])
        assert aws.front.valid(passwords[-1], aws.account)  # pods pull with a live token at every moment
        waits.append(seconds)
        if len(waits) == 4:
            raise asyncio.CancelledError
        clock.offset += seconds
        aws.clock.advance(seconds)
        assert aws.front.valid(passwords[-1], aws.account)  # still live when the next renewal is due

    async def run() -> None:
        await kept.run(kept.refresh(), wait)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run())
    assert [round(w / HOURS, 2) for w in waits] == [6.0, 6.0, 6.0, 6.0]
    assert len(set(passwords)) == 4 and aws.front.token_calls == 4


def test_a_refused_write_is_one_sentence_a_metric_and_a_retry_and_the_helper_keeps_serving(aws, helper_kube, capsys):
    _kube, apply = helper_apply()  # no pull Secret yet: writing it would be a create, which the Role does not allow
    with running_helper(from_values(values(aws)), pull_secret=(PULL, apply)) as helper, \
            httpx.Client(base_url=helper.url, headers={"Authorization": f"Bearer {helper.auth_token}"}) as client:
        ready = client.get("/healthz/ready")
        assert client.post(f"/token/{PATH}x:1").status_code == 200
        metrics = client.get("/metrics").text
    assert ready.status_code == 200
    problem = ready.json()["pullSecret"]
    assert problem.startswith(f"not renewed: The registry helper could not renew the pull Secret {PULL}: "
                              f"The Kubernetes API forbids the registry helper to patch secrets '{PULL}'")
    assert 'binderhub_registry_helper_pull_secret_writes_total{result="failed"} 1.0' in metrics
    assert gauge(metrics, "binderhub_registry_helper_pull_secret_seconds_left") == 0.0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"pull-secret"' in line]
    assert [(line["level"], line["error"]) for line in lines] == [("warning", problem.removeprefix("not renewed: "))]
    assert helper_kube.get("secrets", NS, PULL) is None

    kept, metrics_ = keeper(aws, Clock(), apply)  # the keeper tries again: once the hook wrote the Secret, it renews it
    assert asyncio.run(kept.refresh()) == RETRY_SECONDS
    hook_writes_the_pull_secret(helper_kube)
    assert asyncio.run(kept.refresh()) > 5 * HOURS
    assert aws.front.valid(pull_credentials(helper_kube)[2], aws.account) and kept.status.startswith("holds a token")


def serve(tmp_path, values_: dict, env: dict, *args: str):
    from tests.helpers import run_cli, write_values

    token = tmp_path / "token"
    token.write_text("t" * 32)
    path = write_values(tmp_path / "values.yaml", values_)
    return run_cli("serve", "--values", str(path), "--auth-token-file", str(token), "--listen", "127.0.0.1:0", *args, env=env)


def test_serve_keeps_a_pull_secret_only_for_ecr(tmp_path):
    from tests.helpers import generic_values

    result = serve(tmp_path, generic_values("https://registry.example.org", "u", "p"), {}, "--pull-secret", PULL)
    assert result.code == 2
    assert result.last_line == "error: --pull-secret keeps an ECR token in the pull Secret and needs registry.type ecr; leave it out."


def test_serve_with_a_pull_secret_and_no_cluster_exits_2_before_listening(aws, tmp_path):
    env = aws.env(KUBECONFIG=str(tmp_path / "absent"), KUBERNETES_SERVICE_HOST="")
    result = serve(tmp_path, values(aws), env, "--pull-secret", PULL)
    assert result.code == 2
    assert result.last_line.startswith("error: No Kubernetes cluster configured (") and "set KUBECONFIG." in result.last_line


def test_a_bug_in_a_write_is_one_line_and_another_try_not_the_end_of_the_keeper(aws, monkeypatch):
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)

    def broken(document: dict) -> None:
        raise RuntimeError("a bug, with a token in its text that must not be logged")

    kept, _metrics = keeper(aws, Clock(), broken)
    assert asyncio.run(kept.refresh()) == RETRY_SECONDS
    assert kept.problem == f"The registry helper could not renew the pull Secret {PULL}: internal error (RuntimeError)"
