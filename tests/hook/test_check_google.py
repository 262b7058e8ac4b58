"""`check` (what `helm test` runs) for Google registries: the pod has only the values and the docker
config BinderHub mounts, no Google API access to ask for the project, so a project left out of
values is taken from the key in the docker config, as provision took it from the credentials."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tests.fixtures_google import PROJECT, google_values
from tests.helpers import run_cli, write_values

GCR_REPOSITORY = f"projects/{PROJECT}/locations/us/repositories/gcr.io"


def docker_config(path: Path, auths: dict[str, tuple[str, str]]) -> Path:
    path.write_text(json.dumps({"auths": {
        key: {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()} for key, (username, password) in auths.items()}}))
    return path


def gcr_values_without_project(google_cloud, registry) -> dict[str, Any]:
    """Values `helm install` accepts without a project: the admin key names it (`check` reads
    only the docker config)."""
    values = google_values(google_cloud, registry, "gcr", adminKeySecret="google-admin")
    del values["registry"]["gcr"]["project"]
    return values


def test_helm_test_without_a_project_in_values_takes_it_from_the_key_in_the_docker_config(
        tmp_path, google_cloud, make_google_principal, google_registry):
    registry = google_registry("gcr.io")
    builder = make_google_principal("gcr-builder", roles=[])
    google_cloud.state.add_repository(PROJECT, "us", "gcr.io")
    google_cloud.state.grant_repository_role(GCR_REPOSITORY, builder.email, "roles/artifactregistry.createOnPushWriter")
    key_text = json.dumps(builder.key_info)
    assert builder.key_info["project_id"] == PROJECT
    config = docker_config(tmp_path / "config.json", {registry.url: ("_json_key", key_text)})
    values = write_values(tmp_path / "values.yaml", gcr_values_without_project(google_cloud, registry))

    result = run_cli("check", "--values", str(values), "--docker-config", str(config))

    assert result.code == 0, result.stderr
    assert f"BinderHub can push to {registry.host}/{PROJECT}/binder-" in result.last_line
    assert builder.key_info["private_key"].splitlines()[1] not in result.output


def test_a_project_in_values_wins_over_the_one_in_the_key(tmp_path, google_cloud, make_google_principal, google_registry):
    registry = google_registry("gcr.io")
    builder = make_google_principal("gcr-builder", roles=[])
    google_cloud.state.add_repository(PROJECT, "us", "gcr.io")
    google_cloud.state.grant_repository_role(GCR_REPOSITORY, builder.email, "roles/artifactregistry.createOnPushWriter")
    key_naming_another_project = json.dumps({**builder.key_info, "project_id": "other-project"})
    config = docker_config(tmp_path / "config.json", {registry.url: ("_json_key", key_naming_another_project)})
    values = write_values(tmp_path / "values.yaml", google_values(google_cloud, registry, "gcr"))

    result = run_cli("check", "--values", str(values), "--docker-config", str(config))

    assert result.code == 0, result.stderr
    assert f"{registry.host}/{PROJECT}/binder-" in result.last_line


def test_without_a_project_anywhere_check_exits_2_asking_for_it(tmp_path, google_cloud, google_registry):
    registry = google_registry("gcr.io")
    config = docker_config(tmp_path / "config.json", {registry.url: ("someone", "some-password-123")})
    values = write_values(tmp_path / "values.yaml", gcr_values_without_project(google_cloud, registry))

    result = run_cli("check", "--values", str(values), "--docker-config", str(config))

    assert result.code == 2
    assert "registry.gcr.project is empty" in result.last_line
    assert "Traceback" not in result.stderr and "some-password-123" not in result.output
