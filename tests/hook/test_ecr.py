"""registry.type ecr against moto (ECR, STS, IAM) with the real boto3 client, and the real
distribution behind an ECR registry gate that takes only fresh tokens moto's front issued for the
account: the hook reads its identity, proves push on a probe repository it creates and deletes,
and writes settings that send BinderHub to the registry helper; every failure is one sentence."""

from __future__ import annotations

import json

import httpx
import pytest
from binderhub_registry.state import INTENT_ECR_PROBE

from tests.helpers import push_image, run_cli, secret_auth, secret_docker_config, write_values
from tests.stand_ins.eks_pod_identity import EksPodIdentityAgent

PROBE = "binder/binder-push-check"


def ecr_values(aws, **ecr) -> dict:
    return {
        "registry": {"type": "ecr", "prefix": "binder-", "ecr": {"region": aws.region, "registryUrl": aws.registry.url, **ecr}},
        "registryHelper": {"name": "binderhub-registry-helper", "namespace": "binder"},
    }


def provision_offline(tmp_path, values, env):
    return run_cli("provision", "--values", str(write_values(tmp_path / "values.yaml", values)), "--output", "-", env=env)


def provision(aws, tmp_path, env=None, **ecr):
    return provision_offline(tmp_path, ecr_values(aws, **ecr), env=aws.env(**(env or {})))


def registry_json(result) -> dict:
    configmap = next(doc for doc in result.documents() if doc["kind"] == "ConfigMap")
    return json.loads(configmap["data"]["registry.json"])


def test_provision_proves_push_on_a_probe_repository_it_creates_and_deletes(aws, tmp_path):
    result = provision(aws, tmp_path)
    assert result.code == 0, result.stderr
    host = aws.registry.url.split("://")[1]
    settings = registry_json(result)
    assert settings["imagePrefix"] == f"{host}/binder/binder-"
    assert settings["registryHelper"]["url"] == "http://binderhub-registry-helper.binder.svc:8080"
    assert settings["binderhubConfig"]["BinderHub"]["registry_class"] == "binderhub.registry.ExternalRegistryHelper"
    seen = aws.registry.seen()
    assert any(r.is_upload_start(PROBE) and r.status == 202 for r in seen)
    assert any(r.is_upload_cancel(PROBE) for r in seen)
    assert aws.repositories() == set()  # the probe the hook created is gone
    assert f"registry account {aws.account}, region {aws.region}" in result.stderr


def test_a_probe_repository_that_existed_stays(aws, tmp_path):
    aws.client("ecr").create_repository(repositoryName=PROBE)
    assert provision(aws, tmp_path).code == 0
    assert aws.repositories() == {PROBE}


def test_the_account_comes_from_sts_and_names_the_registry_host(aws, tmp_path):
    values = ecr_values(aws)
    del values["registry"]["ecr"]["registryUrl"]
    result = run_cli("render", "--values", str(write_values(tmp_path / "v.yaml", {**values, "registry": {
        **values["registry"], "ecr": {**values["registry"]["ecr"], "account": "210987654321"}}})))
    assert result.code == 0, result.stderr
    assert "210987654321.dkr.ecr.eu-west-1.amazonaws.com/binder/binder-" in result.stdout


def test_irsa_web_identity_assumes_the_role_through_sts(aws, tmp_path):
    iam = aws.client("iam")
    role = iam.create_role(RoleName="binderhub", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YmluZGVyOmh1YiJ9.c2ln")
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_ROLE_ARN": role["Role"]["Arn"],
           "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file), "AWS_ROLE_SESSION_NAME": "hook"}
    result = provision(aws, tmp_path, env=env)
    assert result.code == 0, result.stderr
    assert f"arn:aws:sts::{aws.account}:assumed-role/binderhub/hook" in result.stderr


def test_no_identity_is_one_sentence_exit_2(aws, tmp_path):
    result = provision(aws, tmp_path, env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert result.code == 2, result.stderr
    assert result.last_line.startswith("error: Cannot read the hook's AWS identity: no AWS identity is available")
    assert "Traceback" not in result.stderr


def test_an_unreachable_aws_is_exit_3(aws, tmp_path):
    result = provision_offline(tmp_path, ecr_values(aws), env={**aws.env(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.code == 3, result.stderr
    assert "error: Cannot reach AWS to read the hook's AWS identity" in result.last_line


def test_a_registry_refusing_the_token_is_exit_1(aws, tmp_path, make_registry):
    from tests.stand_ins.aws import EcrRegistryGate

    other = EcrRegistryGate(make_registry("none").url, aws.front, "210987654321").start()  # another account's registry
    try:
        result = provision_offline(tmp_path, ecr_values(aws, registryUrl=other.url), env=aws.env())
    finally:
        other.stop()
    assert result.code == 1, result.stderr
    assert "rejected the login of user 'AWS'" in result.last_line and "check the ECR authorization token" in result.last_line
    assert aws.repositories() == set()


def test_cleanup_deletes_the_probe_an_interrupted_run_left_and_nothing_else(aws, monkeypatch):
    from binderhub_registry.progress import Progress
    from binderhub_registry.providers.ecr import EcrProvider
    from binderhub_registry.state import CurrentState

    # helm test's probe, the probe of a run interrupted before the prefix changed, BinderHub's images
    for name in ("binder/binder-push-check", "binder/earlier-push-check", "binder/binder-somerepo"):
        aws.client("ecr").create_repository(repositoryName=name)
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    provider = EcrProvider(ecr_values(aws), Progress("json"))
    provider.cleanup(CurrentState(intents={INTENT_ECR_PROBE: "binder/earlier-push-check"}))
    assert aws.repositories() == {"binder/binder-somerepo"}  # both probes go, BinderHub's images stay
    provider.cleanup(CurrentState())
    assert aws.repositories() == {"binder/binder-somerepo"}


def test_the_next_run_deletes_a_probe_an_interrupted_run_created(aws, monkeypatch):
    from binderhub_registry.progress import Progress
    from binderhub_registry.providers.ecr import EcrProvider
    from binderhub_registry.state import CurrentState

    aws.client("ecr").create_repository(repositoryName=PROBE)
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    notes: list[dict] = []
    provider = EcrProvider(ecr_values(aws), Progress("json"), record_intent=notes.append)
    provider.obtain(CurrentState(intents={INTENT_ECR_PROBE: PROBE}), None)
    assert aws.repositories() == set()
    assert notes[-1] == {}


@pytest.mark.parametrize("missing", ["region"])
def test_values_without_a_region_are_refused(aws, tmp_path, missing):
    values = ecr_values(aws)
    del values["registry"]["ecr"][missing]
    result = provision_offline(tmp_path, values, env=aws.env())
    assert result.code == 2
    assert result.last_line == "error: registry.ecr.region must be set for registry.type=ecr."


def user_with_policy(aws, actions: list[str]) -> dict[str, str]:
    """An IAM user allowed exactly ``actions``, and its access keys (moto then enforces IAM)."""
    iam = aws.client("iam")
    iam.create_user(UserName="binderhub")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName="binderhub", PolicyName="ecr", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="binderhub")["AccessKey"]
    aws.moto.enforce_iam(True)
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


ALL_ACTIONS = ["sts:GetCallerIdentity", "ecr:GetAuthorizationToken", "ecr:DescribeRepositories", "ecr:CreateRepository",
               "ecr:DeleteRepository"]


def role_credentials(aws, actions: list[str]) -> dict:
    """The temporary credentials of an IAM role allowed exactly ``actions``, as EKS Pod Identity
    hands them to a pod (moto then enforces IAM)."""
    iam = aws.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                                                     "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
    role = iam.create_role(RoleName="binderhub-pod-identity", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="ecr", PolicyDocument=json.dumps(policy))
    credentials = aws.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="eks-binder-hook")["Credentials"]
    aws.moto.enforce_iam(True)
    return credentials


def pod_identity_env(agent: EksPodIdentityAgent, token_file) -> dict[str, str]:
    """What EKS Pod Identity's webhook puts into the pod (and no access keys)."""
    return {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.credentials_uri,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file)}


def test_eks_pod_identity_credentials_come_from_the_agent(aws, tmp_path):
    token_file = tmp_path / "eks-pod-identity-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJwa3MuZWtzLmFtYXpvbmF3cy5jb20ifQ.c2ln")
    with EksPodIdentityAgent(role_credentials(aws, ALL_ACTIONS), token_file.read_text()) as agent:
        result = provision(aws, tmp_path, env=pod_identity_env(agent, token_file))
    assert result.code == 0, result.stderr
    assert f"arn:aws:sts::{aws.account}:assumed-role/binderhub-pod-identity/eks-binder-hook" in result.stderr
    assert agent.answered and set(agent.answered) == {200}


def test_eks_pod_identity_refusing_the_pods_token_is_one_sentence_exit_1(aws, tmp_path):
    token_file = tmp_path / "eks-pod-identity-token"
    token_file.write_text("a-token-of-another-cluster")
    with EksPodIdentityAgent(role_credentials(aws, ALL_ACTIONS), "the-token-the-agent-expects") as agent:
        result = provision(aws, tmp_path, env=pod_identity_env(agent, token_file))
    assert 401 in agent.answered
    assert result.code == 1, result.stderr
    assert result.last_line.startswith("error: AWS's container-role credential provider gave the hook's AWS identity no credentials; "
                                       "check the EKS Pod Identity association")
    assert "Traceback" not in result.stderr and "not valid" not in result.stderr  # the agent's own words are not repeated


def test_a_role_with_the_documented_actions_proves_push_under_iam_enforcement(aws, tmp_path):
    result = provision(aws, tmp_path, env=user_with_policy(aws, ALL_ACTIONS))
    assert result.code == 0, result.stderr
    assert aws.repositories() == set()


@pytest.mark.parametrize("missing", ["ecr:CreateRepository", "ecr:GetAuthorizationToken", "ecr:DescribeRepositories"])
def test_a_missing_permission_is_named_in_one_sentence_exit_1(aws, tmp_path, missing):
    result = provision(aws, tmp_path, env=user_with_policy(aws, [a for a in ALL_ACTIONS if a != missing]))
    assert result.code == 1, result.stderr
    assert f"The hook's AWS identity may not {missing} (to " in result.last_line
    assert "allow it in the IAM role's policy" in result.last_line and "Traceback" not in result.stderr
    assert aws.repositories() == set()  # a probe it made is deleted all the same


def test_unknown_access_keys_are_rejected_exit_1(aws, tmp_path):
    aws.moto.enforce_iam(True)
    result = provision(aws, tmp_path)
    assert result.code == 1, result.stderr
    assert "AWS refused the hook's AWS identity to read the hook's AWS identity (InvalidClientTokenId)" in result.last_line


def test_a_write_ahead_note_names_the_probe_before_it_is_created_and_is_cleared_after(aws, monkeypatch):
    from binderhub_registry.progress import Progress
    from binderhub_registry.providers.ecr import EcrProvider
    from binderhub_registry.state import CurrentState

    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    seen: list[tuple[dict, set]] = []
    provider = EcrProvider(ecr_values(aws), Progress("json"), record_intent=lambda notes: seen.append((notes, aws.repositories())))
    provider.obtain(CurrentState(), None)
    assert seen == [({INTENT_ECR_PROBE: PROBE}, set()), ({}, set())]


def pull_secret(result) -> dict:
    return next(doc for doc in result.documents() if doc["kind"] == "Secret" and doc["metadata"]["name"].endswith("-pull"))


def test_pull_secret_none_leaves_the_pull_secret_empty_for_the_nodes_role(aws, tmp_path):
    result = provision(aws, tmp_path)
    assert result.code == 0, result.stderr
    assert secret_docker_config(pull_secret(result)) == {"auths": {}}
    assert "the kubelet pulls with the node's IAM role" in result.stderr


def test_pull_secret_helper_holds_the_token_the_hook_proved_and_it_pulls(aws, tmp_path):
    result = provision(aws, tmp_path, pullSecret="helper")
    assert result.code == 0, result.stderr
    key, username, password = secret_auth(pull_secret(result))
    assert (key, username) == (aws.registry.url, "AWS")
    assert aws.front.valid(password, aws.account) and aws.front.token_calls == 1
    assert password not in result.stderr and "push too" in result.stderr
    aws.client("ecr").create_repository(repositoryName="binder/binder-x")
    push_image(aws.registry.url, "binder/binder-x", "1", auth=httpx.BasicAuth(username, password))
    pulled = httpx.get(f"{aws.registry.url}/v2/binder/binder-x/manifests/1", auth=httpx.BasicAuth(username, password),
                       headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert pulled.status_code == 200
