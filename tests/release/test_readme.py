"""Every install of ./chart in the README runs as written (Helm 4's client-side dry run, which
needs no cluster), with the image flag the README tells users to pass while no image is published,
after `helm dependency build` (here: the chart with BinderHub's packaged chart, tests/fixtures_chart.py)
and with a `my-binderhub.yaml` of BinderHub values as the README describes it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures_chart import built_chart

REPO_ROOT = Path(__file__).resolve().parents[2]
HOOK_IMAGE = "registry.example.org/tools/binderhub-registry"
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def readme_chart_commands() -> list[str]:
    """The README's `helm install|upgrade ... ./chart` commands, continuation lines joined."""
    commands = []
    for block in BASH_BLOCK.findall((REPO_ROOT / "README.md").read_text()):
        for command in block.replace("\\\n", " ").splitlines():
            if re.match(r"helm (install|upgrade)\b.* \./chart\b", command):
                commands.append(command)
    return commands


def test_the_readme_has_install_commands_for_every_registry_type():
    types = {match for command in readme_chart_commands() for match in re.findall(r"registry\.type=([a-z-]+)", command)}
    assert types == {"generic", "dockerhub", "artifact-registry", "gcr", "harbor", "ecr"}


@pytest.mark.parametrize("command", readme_chart_commands())
def test_every_readme_install_runs_as_written_and_uses_the_built_image(command, helm_binaries, tmp_path):
    # `helm` is Helm 4 with --dry-run=client appended; the variables are what the README exports.
    (tmp_path / "chart").symlink_to(built_chart())
    (tmp_path / "my-binderhub.yaml").write_text(yaml.safe_dump({"binderhub": {"config": {"BinderHub": {"hub_url": "https://hub.example.org"}}}}))
    script = f'helm() {{ "{helm_binaries["4"]}" "$@" --dry-run=client; }}\ncd "{tmp_path}"\n{command}\n'
    env = {**os.environ, "HOOK_IMAGE": HOOK_IMAGE, "REGISTRY_PASSWORD": "pw-readme-0123456789",
           "DOCKERHUB_TOKEN": "dckr_pat_readme0123456789",
           "HARBOR_ADMIN_PASSWORD": "Harbor-readme-0123", "HELM_CONFIG_HOME": str(tmp_path), "HELM_CACHE_HOME": str(tmp_path)}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    manifests = result.stdout.split("NOTES:", 1)[0]  # HOOKS: and MANIFEST: (all three pods are hooks)
    images = {line.split("image:", 1)[1].strip().strip('"') for line in manifests.splitlines() if line.strip().startswith("image:")}
    app_version = yaml.safe_load((REPO_ROOT / "chart" / "Chart.yaml").read_text())["appVersion"]
    # BinderHub's and JupyterHub's pods run their own images; every pod of this chart runs the hook image.
    assert {image for image in images if "binderhub-registry" in image} == {f"{HOOK_IMAGE}:{app_version}"}


def test_the_benchmark_runs_as_the_readme_writes_it_with_a_python_outside_the_venv():
    """`python benchmarks/hook.py` after the setup: started by a python without the package, it
    runs itself with the repository's .venv."""
    python = Path(sys.base_prefix) / "bin" / "python3"
    assert subprocess.run([str(python), "-c", "import binderhub_registry"], capture_output=True).returncode != 0
    result = subprocess.run([str(python), "benchmarks/hook.py", "--help"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--runs" in result.stdout and "--latency" in result.stdout
