"""The chart, rendered and linted by the real Helm 3.19.0 and 4.1.4, validated against the
Kubernetes OpenAPI schemas of 1.28 and the newest kubernetes-validate ships. The chart is rendered
with its BinderHub dependency built (tests/fixtures_chart.py); the assertions here are about this
chart's own objects (`template`), the BinderHub wiring is tested in test_binderhub_wiring.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures_chart import built_chart

ROOT = Path(__file__).resolve().parents[2]
OWN_SOURCE = "# Source: binderhub-registry/templates/"
VALUES = sorted((Path(__file__).parent / "values").glob("*.yaml"))
HELM_VERSIONS = ["3", "4"]
GENERIC = Path(__file__).parent / "values" / "generic.yaml"


def helm(binaries: dict[str, Path], version: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binaries[version]), *args], capture_output=True, text=True, timeout=60)


def template(binaries: dict[str, Path], version: str, values: Path | list[Path] | None = None, *sets: str,
             own: bool = True, args: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """`helm template`: this chart's own documents, or with ``own=False`` BinderHub's too."""
    args = ("template", "binderhub", str(built_chart()), "--namespace", "binder", *args)
    for path in [values] if isinstance(values, Path) else values or []:
        args += ("-f", str(path))
    for s in sets:
        args += ("--set", s)
    result = helm(binaries, version, *args)
    assert result.returncode == 0, result.stderr
    chunks = result.stdout.split("\n---\n")
    return [doc for chunk in chunks if (not own or OWN_SOURCE in chunk) and (doc := yaml.safe_load(chunk))]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


@pytest.mark.parametrize("version", HELM_VERSIONS)
@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.stem)
def test_chart_lints_strictly(helm_binaries, version, values):
    result = helm(helm_binaries, version, "lint", "--strict", str(built_chart()), "-f", str(values))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kube_version", ["1.28.0", "1.37.0"])
@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_every_rendered_document_is_valid_kubernetes(helm_binaries, version, kube_version, tmp_path):
    files = []
    for values in VALUES:
        out = tmp_path / f"{values.stem}.yaml"
        # A cluster of these versions serves policy/v1 (BinderHub's chart renders the PDB for it).
        docs = template(helm_binaries, version, values, own=False,
                        args=("--kube-version", kube_version, "--api-versions", "policy/v1/PodDisruptionBudget"))
        out.write_text("".join("---\n" + yaml.safe_dump(doc) for doc in docs))
        files.append(str(out))
    assert_valid_kubernetes(kube_version, files)


def assert_valid_kubernetes(kube_version: str, files: list[str]) -> None:
    """The real OpenAPI schemas of `kube_version` (kubernetes-validate --strict) accept every document."""
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", "-k", kube_version, *files],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", HELM_VERSIONS)
@pytest.mark.parametrize(
    ("sets", "field"),
    [
        ([], "/registry/type"),
        (["registry.type=quay"], "/registry/type"),
        (["registry.type=generic", "registry.generic.url=registry.example.org", "registry.generic.username=u",
          "registry.generic.password=p"], "/registry/generic/url"),
        (["registry.type=generic", "registry.generic.username=u", "registry.generic.password=p"], "/registry/generic/url"),
        (["registry.type=generic", "registry.generic.url=https://r.example.org", "registry.generic.password=p"],
         "/registry/generic/username"),
        (["registry.type=dockerhub", "registry.dockerhub.password=p"], "/registry/dockerhub/username"),
        (["registry.type=artifact-registry"], "/registry/artifactRegistry/location"),
        (["registry.type=generic", "registry.generic.url=https://r.example.org", "registry.generic.username=u", "registry.colour=red"],
         "colour"),
        # Renamed in 0.1: hook.jobAnnotations is hook.annotations, hook.rbacAnnotations is shared.annotations.
        (["registry.type=dockerhub", "registry.dockerhub.username=u", "hook.rbacAnnotations.a=b"], "rbacAnnotations"),
    ],
)
def test_helm_install_rejects_bad_values_naming_the_field(helm_binaries, version, sets, field):
    args = ["template", "binderhub", str(built_chart())]
    for s in sets:
        args += ["--set", s]
    result = helm(helm_binaries, version, *args)
    assert result.returncode != 0
    # Helm's schema names it as a JSON pointer, the chart's own checks as the CLI does.
    assert field in result.stderr or field.strip("/").replace("/", ".") in result.stderr


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_hook_identity_and_input_exist_before_the_job(helm_binaries, version):
    docs = template(helm_binaries, version, GENERIC)
    job = next(d for d in by_kind(docs, "Job") if "pre-install" in d["metadata"]["annotations"]["helm.sh/hook"])
    job_weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    for kind in ("ServiceAccount", "Role", "RoleBinding", "Secret"):
        (doc,) = by_kind(docs, kind)
        annotations = doc["metadata"]["annotations"]
        assert {"pre-install", "pre-upgrade", "pre-delete", "test"} <= set(annotations["helm.sh/hook"].split(","))
        assert int(annotations["helm.sh/hook-weight"]) < job_weight
    assert job["metadata"]["annotations"]["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert job["metadata"]["annotations"]["helm.sh/hook-output-log-policy"] == "hook-failed"
    assert "ttlSecondsAfterFinished" not in job["spec"]


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_pods_meet_the_restricted_pod_security_standard(helm_binaries, version):
    docs = template(helm_binaries, version, GENERIC)
    pod_specs = [d["spec"]["template"]["spec"] for d in by_kind(docs, "Job")] + [d["spec"] for d in by_kind(docs, "Pod")]
    assert len(pod_specs) == 3  # hook, cleanup, test
    for spec in pod_specs:
        assert spec["restartPolicy"] == "Never"
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 65532
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_credential_failures_fail_the_job_at_once_and_outages_retry(helm_binaries, version):
    docs = template(helm_binaries, version, GENERIC)
    (job,) = [d for d in by_kind(docs, "Job") if d["metadata"]["name"] == "binderhub-registry-hook"]
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    (rule,) = job["spec"].get("podFailurePolicy", {}).get("rules", [None])
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"]["values"] == [1, 2]
    assert rule["onExitCodes"]["containerName"] == job["spec"]["template"]["spec"]["containers"][0]["name"]


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_a_cleanup_failing_on_credentials_or_configuration_fails_at_once_like_the_hook(helm_binaries, version):
    docs = template(helm_binaries, version, GENERIC)
    (cleanup,) = [d for d in by_kind(docs, "Job") if d["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"]
    (rule,) = cleanup["spec"]["podFailurePolicy"]["rules"]
    assert rule == {"action": "FailJob", "onPodConditions": [],
                    "onExitCodes": {"containerName": "cleanup", "operator": "In", "values": [1, 2]}}
    assert [c["name"] for c in cleanup["spec"]["template"]["spec"]["containers"]] == ["cleanup"]


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_helm_test_is_a_pod_checking_the_secret_binderhub_mounts(helm_binaries, version):
    docs = template(helm_binaries, version, GENERIC)
    (pod,) = by_kind(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    rendered = template(helm_binaries, version, GENERIC, own=False)
    (binder,) = [d for d in rendered if d["kind"] == "Deployment" and d["metadata"]["name"] == "binder"]
    binder_spec = binder["spec"]["template"]["spec"]
    (binder_volume,) = [v for v in binder_spec["volumes"] if v["name"] == "binderhub-registry"]
    (binder_mount,) = [m for m in binder_spec["containers"][0]["volumeMounts"] if m["name"] == "binderhub-registry"]
    # The test Pod mounts the binder pod's very volume at the very path, and checks the file there.
    assert binder_volume in pod["spec"]["volumes"]
    assert binder_mount in pod["spec"]["containers"][0]["volumeMounts"]
    args = pod["spec"]["containers"][0]["args"]
    assert args[args.index("--docker-config") + 1] == binder_mount["mountPath"] + "/docker/config.json"
    assert {"key": "config.json", "path": "docker/config.json"} in binder_volume["projected"]["sources"][0]["secret"]["items"]
    assert binder_volume["projected"]["sources"][0]["secret"]["name"] == "binderhub-registry"
    assert pod["spec"]["automountServiceAccountToken"] is False


TEST_POD = "binderhub-registry-check-push"  # the helm test Pod of a release "binderhub"


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_role_grants_only_the_named_objects(helm_binaries, version):
    docs = template(helm_binaries, version, Path(__file__).parent / "values" / "generic-existing-secret.yaml")
    (role,) = by_kind(docs, "Role")
    for rule in role["rules"]:
        assert rule["resourceNames"], rule  # create too is limited to the named objects
        assert "list" not in rule["verbs"] and "watch" not in rule["verbs"]
    names = {name for rule in role["rules"] for name in rule["resourceNames"]}
    assert names == {"binder-push", "binder-push-pull", "binder-push-settings", "my-registry-credentials", "binder", TEST_POD}
    (pods,) = [rule for rule in role["rules"] if rule["resources"] == ["pods"]]
    assert pods["resourceNames"] == [TEST_POD] and pods["verbs"] == ["delete"]  # the cleanup deletes the helm test Pod
    (deployments,) = [rule for rule in role["rules"] if rule["resources"] == ["deployments"]]
    assert deployments["resourceNames"] == ["binder"] and deployments["verbs"] == ["get", "patch"]


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_the_cleanup_job_is_told_to_delete_the_very_pod_helm_test_creates(helm_binaries, version):
    """Helm deletes no test hook on uninstall: the cleanup Job names the chart's test Pod, as rendered."""
    docs = template(helm_binaries, version, GENERIC)
    (test_pod,) = by_kind(docs, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (cleanup,) = [d for d in by_kind(docs, "Job") if d["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"]
    args = cleanup["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "cleanup" and "--test-pod" in args, args
    assert args[args.index("--test-pod") + 1] == test_pod["metadata"]["name"]


def test_the_harbor_admin_secret_is_readable_only_with_harbor(helm_binaries):
    """A harbor.adminSecret left in the values after a switch to another registry grants nothing."""
    docs = template(helm_binaries, "4", GENERIC, "registry.harbor.adminSecret=harbor-admin")
    (role,) = by_kind(docs, "Role")
    assert "harbor-admin" not in {name for rule in role["rules"] for name in rule["resourceNames"]}


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_disabling_test_and_cleanup_leaves_only_the_hook(helm_binaries, version):
    docs = template(helm_binaries, version, Path(__file__).parent / "values" / "artifact-registry.yaml")
    assert by_kind(docs, "Pod") == []
    assert len(by_kind(docs, "Job")) == 1


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_cli_and_helm_accept_and_reject_the_same_values(helm_binaries, version, tmp_path):
    from tests.helpers import run_cli, write_values

    cases = [
        {"registry": {"type": "generic", "generic": {"url": "https://r.example.org", "username": "u", "password": "p"}}},
        {"registry": {"type": "generic", "generic": {"url": "r.example.org", "username": "u"}}},
        {"registry": {"type": "dockerhub"}},
        {"registry": {"type": "nope"}},
        {"registry": {"type": "gcr", "gcr": {"host": "us-central1-docker.pkg.dev"}}},
    ]
    for i, values in enumerate(cases):
        path = write_values(tmp_path / f"{i}.yaml", values)
        helm_ok = helm(helm_binaries, version, "template", "x", str(built_chart()), "-f", str(path)).returncode == 0
        cli = run_cli("render", "--values", str(path))
        assert (cli.code == 0) == helm_ok, (values, cli.stderr)


def test_helm4_client_dry_run_installs_and_notes_name_the_secret(helm_binaries):
    """`helm install --dry-run=client` runs Helm's own install path offline (Helm 4 only: Helm 3's
    needs a live API server for discovery)."""
    result = helm(helm_binaries, "4", "install", "binderhub", str(built_chart()), "--dry-run=client", "--namespace", "binder",
                  "-f", str(GENERIC))
    assert result.returncode == 0, result.stderr
    assert "Secret    binderhub-registry" in result.stdout
    assert "helm test binderhub --namespace binder\n  kubectl --namespace binder logs binderhub-registry-check-push" in result.stdout


# Values whose image names BinderHub would rewrite ("{prefix}{slug}:{ref}".replace("_", "-").lower()),
# so the hook would prove push on another repository than BinderHub pushes to, and registry hosts
# docker and the kubelet would read as a Docker Hub namespace (harbor/binder-x is docker.io/harbor/binder-x).
GENERIC_OK = {"type": "generic", "generic": {"url": "https://registry.example.org", "username": "u", "password": "p"}}
IMAGE_NAME_CASES = [
    ({**GENERIC_OK, "prefix": "my_proj/binder-"}, "/registry/prefix",
     "registry.prefix must be the start of Docker repository path components: lowercase letters and digits, joined by '/', "
     "'.' or dashes, not starting with '/', '.' or '-' and without '//' (Docker's name grammar), nor '_' or capitals, which "
     "BinderHub rewrites (got 'my_proj/binder-')."),
    ({**GENERIC_OK, "prefix": "Binder-"}, "/registry/prefix", "registry.prefix must be the start of Docker repository path"),
    ({"type": "generic", "generic": {**GENERIC_OK["generic"], "repository": "my_proj"}}, "/registry/generic/repository",
     "registry.generic.repository must be a lowercase path under the host such as my-project or org/binder: Docker's path "
     "components (letters and digits joined by '.' or dashes) separated by '/', without '_', because BinderHub lower-cases "
     "image names and turns '_' into '-' (got 'my_proj')."),
    ({"type": "generic", "generic": {**GENERIC_OK["generic"], "repository": "MyOrg/binder"}}, "/registry/generic/repository",
     "registry.generic.repository must be a lowercase path"),
    ({"type": "generic", "generic": {**GENERIC_OK["generic"], "url": "https://harbor"}}, "/registry/generic/url",
     "registry.generic.url must be scheme://host[:port] of the registry without user:password@ or a path, such as "
     "https://registry.example.org, "
     "whose host is lowercase and has a dot or a port or is localhost, since docker and the kubelet read harbor/binder-x as "
     "an image on Docker Hub (got 'https://harbor')."),
    ({"type": "generic", "generic": {**GENERIC_OK["generic"], "url": "https://Registry.example.org"}}, "/registry/generic/url",
     "registry.generic.url must be scheme://host[:port] of the registry without user:password@ or a path"),
    ({"type": "dockerhub", "dockerhub": {"username": "alice", "password": "p", "registryUrl": "http://mirror"}},
     "/registry/dockerhub/registryUrl",
     "registry.dockerhub.registryUrl must be scheme://host[:port] of the Docker Hub registry API or a mirror, whose host is "
     "lowercase and has a dot or a port or is localhost"),
    ({"type": "gcr", "gcr": {"project": "binder-test"}, "google": {"registryUrl": "https://GCR.io"}}, "/registry/google/registryUrl",
     "registry.google.registryUrl must be scheme://host[:port] of the registry without a path, whose host is lowercase"),
]
ACCEPTED_HOSTS = ["http://localhost", "http://localhost:5000", "http://registry:5000", "http://127.0.0.1:5000",
                  "https://registry.example.org", "https://harbor.example.org:8443/"]


@pytest.mark.parametrize("version", HELM_VERSIONS)
@pytest.mark.parametrize(("registry", "field", "sentence"), IMAGE_NAME_CASES, ids=lambda v: v if isinstance(v, str) and v[0] == "/" else "")
def test_helm_rejects_names_binderhub_would_rewrite_and_hosts_docker_reads_as_docker_hub(
        helm_binaries, version, registry, field, sentence, tmp_path):
    from tests.helpers import write_values

    path = write_values(tmp_path / "values.yaml", {"registry": registry})
    result = helm(helm_binaries, version, "template", "binderhub", str(built_chart()), "-f", str(path))
    assert result.returncode != 0
    assert f"): {sentence}" in result.stderr  # the CLI's sentence, from the chart's own check


@pytest.mark.parametrize(("registry", "field", "sentence"), IMAGE_NAME_CASES, ids=lambda v: v if isinstance(v, str) and v[0] == "/" else "")
def test_the_cli_rejects_the_same_values_with_exit_2_and_one_sentence_naming_the_field(registry, field, sentence, tmp_path):
    from tests.helpers import run_cli, write_values

    result = run_cli("render", "--values", str(write_values(tmp_path / "values.yaml", {"registry": registry})))
    assert result.code == 2
    assert "Traceback" not in result.stderr
    message = result.last_line.removeprefix("error: ")
    assert message.startswith(sentence)
    assert message.endswith(").") and message.count(". ") == 0


@pytest.mark.parametrize("version", HELM_VERSIONS)
@pytest.mark.parametrize("url", ACCEPTED_HOSTS)
def test_helm_and_the_cli_accept_registry_hosts_with_a_dot_a_port_or_localhost(helm_binaries, version, url, tmp_path):
    from tests.helpers import run_cli, write_values

    values = {"registry": {"type": "generic", "prefix": "binder.x/", "generic": {
        "url": url, "repository": "org/my-project.binder", "username": "u", "password": "p"}}}
    path = write_values(tmp_path / "values.yaml", values)
    result = helm(helm_binaries, version, "template", "binderhub", str(built_chart()), "-f", str(path))
    assert result.returncode == 0, result.stderr
    cli = run_cli("render", "--values", str(path))
    assert cli.code == 0, cli.stderr


def pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pod spec of the hook Job, the cleanup Job and the test Pod, by component label."""
    found = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"]
             for d in by_kind(docs, "Job")}
    found.update({d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"] for d in by_kind(docs, "Pod")})
    return found


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_cleanup_and_test_take_the_hooks_pod_settings_they_leave_out_and_keep_their_own(helm_binaries, version, tmp_path):
    from tests.helpers import write_values

    values = write_values(tmp_path / "values.yaml", {
        "hook": {"nodeSelector": {"pool": "core"}, "logFormat": "json", "backoffLimit": 3,
                 "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy.example.org:3128"}]},
        "cleanup": {"nodeSelector": {}, "backoffLimit": 0, "activeDeadlineSeconds": 120},
        "test": {"logFormat": "text", "resources": {"requests": {"cpu": "10m"}}},
    })
    docs = template(helm_binaries, version, [GENERIC, values])
    spec = pods(docs)
    jobs = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"] for d in by_kind(docs, "Job")}
    assert spec["hook"]["nodeSelector"] == {"pool": "core"}
    assert "nodeSelector" not in spec["cleanup"]  # cleanup's explicit {} is kept, not replaced by the hook's
    assert spec["test"]["nodeSelector"] == {"pool": "core"}
    assert [jobs["hook"]["backoffLimit"], jobs["cleanup"]["backoffLimit"]] == [3, 0]  # an explicit 0 is kept too
    assert [jobs["hook"]["activeDeadlineSeconds"], jobs["cleanup"]["activeDeadlineSeconds"]] == [900, 120]
    log_format = {name: pod["containers"][0]["args"][-1] for name, pod in spec.items()}
    assert log_format == {"hook": "json", "cleanup": "json", "test": "text"}
    assert spec["test"]["containers"][0]["resources"] == {"requests": {"cpu": "10m"}}
    assert spec["cleanup"]["containers"][0]["resources"] == spec["hook"]["containers"][0]["resources"]
    for pod in spec.values():
        assert {"name": "HTTPS_PROXY", "value": "http://proxy.example.org:3128"} in pod["containers"][0]["env"]


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_shared_objects_carry_shared_annotations_and_each_pod_its_own(helm_binaries, version, tmp_path):
    from tests.helpers import write_values

    values = write_values(tmp_path / "values.yaml", {
        "shared": {"annotations": {"helm.sh/hook-weight": "-7"}}, "hook": {"annotations": None,
        "podAnnotations": {"sidecar.istio.io/inject": "false"}}, "test": {"annotations": {"team": "binder"}}})
    docs = template(helm_binaries, version, [GENERIC, values])
    for kind in ("ServiceAccount", "Role", "RoleBinding", "Secret"):
        (doc,) = by_kind(docs, kind)
        assert doc["metadata"]["annotations"]["helm.sh/hook-weight"] == "-7", kind
    hook, cleanup = sorted(by_kind(docs, "Job"), key=lambda d: d["metadata"]["name"] != "binderhub-registry-hook")
    assert "annotations" not in hook["metadata"]  # hook.annotations only reach the hook Job
    assert cleanup["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    for job in (hook, cleanup):
        assert job["spec"]["template"]["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    (pod,) = by_kind(docs, "Pod")
    assert pod["metadata"]["annotations"] == {"helm.sh/hook": "test", "helm.sh/hook-weight": "1",
                                              "helm.sh/hook-delete-policy": "before-hook-creation", "team": "binder",
                                              "sidecar.istio.io/inject": "false"}
