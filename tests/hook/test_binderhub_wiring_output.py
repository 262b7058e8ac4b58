"""The hook's `binderhub-values.yaml` is static wiring (companion mode): byte-identical whatever the
registry type, prefix or credentials, and the very wiring the chart gives BinderHub in one release;
what changes lives in `registry.json`, which BinderHub reads at start."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.helpers import run_cli, write_values

ROOT = Path(__file__).resolve().parents[2]
CASES = [
    {"type": "generic", "generic": {"url": "https://registry.example.org", "repository": "binder", "username": "u", "password": "p"}},
    {"type": "generic", "prefix": "other-", "generic": {"url": "http://localhost:5000", "username": "v", "password": "q",
                                                       "tokenUrl": "http://localhost:5001/token?service=registry"}},
    {"type": "dockerhub", "prefix": "mybinder-", "dockerhub": {"username": "binderbot", "password": "dckr_pat_x"}},
    {"type": "gcr", "gcr": {"project": "my-project-123", "host": "eu.gcr.io"}},
    {"type": "artifact-registry", "artifactRegistry": {"project": "my-project-123", "location": "us-central1"}},
]


def render(tmp_path: Path, index: int, registry: dict) -> dict[str, str]:
    result = run_cli("render", "--values", str(write_values(tmp_path / f"{index}.yaml", {"registry": registry})))
    assert result.code == 0, result.stderr
    return result.document("ConfigMap")["data"]


def test_binderhub_values_are_byte_identical_across_registries_prefixes_and_credentials(tmp_path):
    rendered = [render(tmp_path, i, registry) for i, registry in enumerate(CASES)]
    assert len({data["binderhub-values.yaml"] for data in rendered}) == 1
    configs = [json.loads(data["registry.json"])["binderhubConfig"] for data in rendered]
    assert len({config["BinderHub"]["image_prefix"] for config in configs}) == len(CASES)
    assert configs[1]["DockerRegistry"]["token_url"] == "http://localhost:5001/token?service=registry"


def test_binderhub_values_are_the_wiring_the_chart_gives_binderhub_in_one_release(tmp_path):
    companion = yaml.safe_load(render(tmp_path, 0, CASES[0])["binderhub-values.yaml"])
    one_release = yaml.safe_load((ROOT / "chart" / "values.yaml").read_text())["binderhub"]
    assert companion == one_release


def test_binderhub_values_name_the_objects_of_the_secret_name_given(tmp_path):
    """The wiring is generated from the chart's values.yaml, whose names are the default ones: with
    another output.secretName every name follows it."""
    values = write_values(tmp_path / "other.yaml", {"registry": CASES[0], "output": {"secretName": "other"}})
    result = run_cli("render", "--values", str(values))
    assert result.code == 0, result.stderr
    companion = yaml.safe_load(result.document("ConfigMap")["data"]["binderhub-values.yaml"])
    sources = companion["extraVolumes"][0]["projected"]["sources"]
    assert [(source.get("secret") or source["configMap"])["name"] for source in sources] == [
        "other", "other-settings", "other-helper-token"]
    assert companion["jupyterhub"]["imagePullSecrets"] == ["other-pull"]
