"""One release (BinderHub's chart as a dependency) and companion mode, rendered by the real Helm 3
and 4 with BinderHub's packaged chart: the wiring in the rendered binder Deployment and JupyterHub
values, the sentences `helm install` fails with when a user's lists drop it, the names, and what
Helm says without the dependency built. That BinderHub really reads the settings through this
wiring is tested in tests/test_binder_pod_config.py (BinderHub's own binderhub_config.py)."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.test_chart import GENERIC, HELM_VERSIONS, by_kind, helm, template
from tests.fixtures_chart import SOURCE_CHART, built_chart

MOUNT = {"name": "binderhub-registry", "mountPath": "/etc/binderhub/registry", "readOnly": True}


def volume(secret: str = "binderhub-registry") -> dict[str, Any]:
    return {"name": "binderhub-registry", "projected": {"sources": [
        {"secret": {"name": secret, "items": [{"key": "config.json", "path": "docker/config.json"}]}},
        {"configMap": {"name": f"{secret}-settings", "items": [{"key": "registry.json", "path": "registry.json"}]}},
        # keyless Google only: the registry helper's token (the Secret is optional)
        {"secret": {"name": f"{secret}-helper-token", "optional": True, "items": [{"key": "token", "path": "helper/token"}]}}]}}


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def secret_values(secret: dict[str, Any]) -> dict[str, Any]:
    text = (secret.get("stringData") or {}).get("values.yaml") or base64.b64decode(secret["data"]["values.yaml"]).decode()
    return yaml.safe_load(text)


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_one_release_mounts_the_settings_into_binder_and_lets_user_pods_pull(helm_binaries, version):
    docs = template(helm_binaries, version, GENERIC, own=False)
    binder = named(docs, "Deployment", "binder")["spec"]["template"]["spec"]
    (container,) = binder["containers"]
    assert volume() in binder["volumes"]
    assert MOUNT in container["volumeMounts"]
    assert "DOCKER_CONFIG" not in {env["name"] for env in container["env"]}  # docker_config_path comes from registry.json
    # What binderhub_config.py reads (BinderHub's Secret binder-secret): our snippet, and no registry value.
    binder_values = secret_values(named(docs, "Secret", "binder-secret"))
    assert "registry.json" in binder_values["extraConfig"]["binderhub-registry"]
    assert "image_prefix" not in binder_values["config"]["BinderHub"]
    assert "DockerRegistry" not in binder_values["config"]
    # JupyterHub: KubeSpawner gives user pods the pull secrets of the hub's values.yaml: the pull
    # Secret, never the push Secret (user pods run untrusted code).
    assert secret_values(named(docs, "Secret", "hub"))["imagePullSecrets"] == ["binderhub-registry-pull"]
    # The hook's Secret is a pre-install hook's output: it exists before any of these objects.
    assert not [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "binderhub-registry"]


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_nothing_in_binderhubs_values_names_the_registry(helm_binaries, version):
    """BinderHub's objects are the same for a generic and a Docker Hub registry: they name only the
    Secret and the settings, so registry changes never need a BinderHub values change (and Helm's
    own checksum/config annotation never rolls binder for them: the hook does)."""
    def binderhub_objects(values: Path) -> list[dict[str, Any]]:
        docs = template(helm_binaries, version, values, own=False)
        return [named(docs, "Deployment", "binder"), named(docs, "Secret", "binder-secret"),
                named(docs, "Secret", "binder-build-docker-config"), secret_values(named(docs, "Secret", "hub"))["imagePullSecrets"]]

    assert binderhub_objects(GENERIC) == binderhub_objects(Path(__file__).parent / "values" / "dockerhub.yaml")


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_companion_mode_renders_nothing_of_binderhub(helm_binaries, version):
    all_docs = template(helm_binaries, version, GENERIC, "binderhub.enabled=false", own=False)
    assert all_docs == template(helm_binaries, version, GENERIC, "binderhub.enabled=false")
    assert not by_kind(all_docs, "Deployment")


WIRING_LOST = [
    (["binderhub.extraVolumes[0].name=mine", "binderhub.extraVolumes[0].emptyDir.medium=Memory"],
     "binderhub.extraVolumes lacks this chart's volume (a list you set replaces the chart's, it is not merged): add "
     '{"name":"binderhub-registry","projected":'),
    (["binderhub.extraVolumeMounts[0].name=mine", "binderhub.extraVolumeMounts[0].mountPath=/mine"],
     "binderhub.extraVolumeMounts lacks this chart's mount (a list you set replaces the chart's, it is not merged): add "
     '{"mountPath":"/etc/binderhub/registry","name":"binderhub-registry","readOnly":true} to it, or leave '
     "binderhub.extraVolumeMounts unset."),
    (["binderhub.jupyterhub.imagePullSecrets[0]=mine"],
     "binderhub.jupyterhub.imagePullSecrets lacks binderhub-registry-pull, the Secret user pods pull BinderHub's images with"),
    (["binderhub.jupyterhub.imagePullSecrets={binderhub-registry-pull,binderhub-registry}"],
     "binderhub.jupyterhub names the push Secret binderhub-registry among the Secrets user pods pull with; user pods run "
     "untrusted code and must not get push credentials: name binderhub-registry-pull there instead."),
    (["binderhub.jupyterhub.singleuser.image.pullSecrets[0].name=binderhub-registry"],
     "binderhub.jupyterhub names the push Secret binderhub-registry among the Secrets user pods pull with"),
    (["binderhub.extraConfig.binderhub-registry="],
     "binderhub.extraConfig.binderhub-registry is empty, so BinderHub would not read the registry settings"),
    (["binderhub.registry.url=https://registry.example.org", "binderhub.registry.password=x"],
     "binderhub.registry is BinderHub's own registry setting, which this chart replaces: set this chart's registry.* values"),
    (["binderhub.config.BinderHub.use_registry=false"],
     "binderhub.config.BinderHub.use_registry false turns off the registry this chart sets up"),
    (["output.secretName=binder-push"],
     "output.secretName binder-push is not the Secret binderhub.extraVolumes mounts: with BinderHub in this release leave "
     "output.secretName unset"),
]


@pytest.mark.parametrize("version", HELM_VERSIONS)
@pytest.mark.parametrize(("sets", "sentence"), WIRING_LOST, ids=lambda v: v[0] if isinstance(v, list) else "")
def test_helm_install_fails_with_one_sentence_when_user_values_lose_the_wiring(helm_binaries, version, sets, sentence):
    args = ["template", "binderhub", str(built_chart()), "-f", str(GENERIC)]
    for s in sets:
        args += ["--set", s]
    result = helm(helm_binaries, version, *args)
    assert result.returncode != 0
    message = result.stderr.split("wiring-check.yaml:3:4): ", 1)[1].splitlines()[0]
    assert message.startswith(sentence)
    assert message.endswith(".") and message.count(". ") == 0


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_users_keep_our_entries_in_their_own_lists(helm_binaries, version, tmp_path):
    own = tmp_path / "own.yaml"
    own.write_text(yaml.safe_dump({"binderhub": {
        "extraVolumes": [{"name": "mine", "emptyDir": {}}, volume()],
        "extraVolumeMounts": [{"name": "mine", "mountPath": "/mine"}, MOUNT],
        "jupyterhub": {"imagePullSecrets": [{"name": "mine"}, {"name": "binderhub-registry-pull"}]},
        "config": {"BinderHub": {"image_prefix": "theirs/"}},  # allowed; registry.json wins at start
    }}))
    binder = named(template(helm_binaries, version, [GENERIC, own], own=False), "Deployment", "binder")["spec"]["template"]["spec"]
    assert {"name": "mine", "emptyDir": {}} in binder["volumes"] and volume() in binder["volumes"]


@pytest.mark.parametrize("version", HELM_VERSIONS)
@pytest.mark.parametrize(("release", "mode", "secret"), [
    ("binderhub", [], "binderhub-registry"),
    ("mybinder", [], "binderhub-registry"),  # BinderHub's values name it: fixed in one release
    ("binderhub", ["binderhub.enabled=false"], "binderhub-registry"),
    ("mybinder", ["binderhub.enabled=false"], "mybinder-registry"),
])
def test_secret_names_for_any_release_name(helm_binaries, version, release, mode, secret):
    args = ["template", release, str(built_chart()), "-f", str(GENERIC)]
    for s in mode:
        args += ["--set", s]
    result = helm(helm_binaries, version, *args)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"].endswith("-hook"))
    assert {secret, f"{secret}-settings"} <= {name for rule in role["rules"] for name in rule["resourceNames"]}
    hook_values = yaml.safe_load(next(d for d in docs if d["metadata"]["name"].endswith("-hook-values"))["stringData"]["values.yaml"])
    assert hook_values["output"]["secretName"] == secret


def test_values_yaml_leaves_binderhub_enabled_unset():
    """BinderHub's published chart ships a values.schema.json (from its schema.yaml) whose root
    allows no `enabled` key, so a parent chart passing `binderhub.enabled: true` fails `helm
    install`; unset, Helm's condition counts as true. (The packaged test copy has no schema.)"""
    values = yaml.safe_load((SOURCE_CHART / "values.yaml").read_text())
    assert "enabled" not in values["binderhub"]


@pytest.mark.parametrize("version", HELM_VERSIONS)
def test_without_the_dependency_built_helm_says_to_build_it(helm_binaries, version, tmp_path):
    chart = tmp_path / "chart"
    shutil.copytree(SOURCE_CHART, chart, ignore=shutil.ignore_patterns("charts"))
    rendered = helm(helm_binaries, version, "template", "binderhub", str(chart), "-f", str(GENERIC))
    assert rendered.returncode != 0
    assert "helm dependency build" in rendered.stderr and "missing in charts/ directory: binderhub" in rendered.stderr
    linted = helm(helm_binaries, version, "lint", "--strict", str(chart), "-f", str(GENERIC))
    assert linted.returncode != 0
    assert "chart directory is missing these dependencies: binderhub" in linted.stdout + linted.stderr


@pytest.mark.parametrize(("mode", "says"), [
    ([], ["One release: BinderHub and JupyterHub are installed", "deployment/binder"]),
    (["--set", "binderhub.enabled=false"], ["Companion mode (binderhub.enabled=false)", "binderhub-values.yaml"]),
])
def test_helm4_dry_run_notes_say_which_mode_ran(helm_binaries, mode, says):
    result = helm(helm_binaries, "4", "install", "binderhub", str(built_chart()), "--dry-run=client", "--namespace", "binder",
                  "-f", str(GENERIC), *mode)
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    for text in says:
        assert text in notes
