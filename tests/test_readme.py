"""Every shell and YAML block of README.md that a user copies runs here, as the user would paste
it, with the real Helm 3 and 4 (tests/readme_shims.py: `helm install` and `upgrade` become `helm
template`, there being no cluster; jupyterhub's Helm repository is a local one serving BinderHub's
chart at the pinned version). Blocks that only build, clone or call Google are listed in NOT_RUN
with the reason; any other block that fails to run fails the test, so a command the README adds
is run from then on. NOTES.txt's companion commands run the same way."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.test_chart import helm
from tests.fixtures_chart import SOURCE_CHART, binderhub_archive, built_chart
from tests.helpers import write_values

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHIMS = Path(__file__).with_name("readme_shims.py")
CHART_YAML = yaml.safe_load((SOURCE_CHART / "Chart.yaml").read_text())
PIN = next(d for d in CHART_YAML["dependencies"] if d["name"] == "binderhub")
GENERIC = {"registry": {"type": "generic", "generic": {"url": "https://registry.example.org", "username": "u", "password": "pw"}}}

# Blocks not run, by their first line, and why.
NOT_RUN = {
    "docker build -t registry.example.org/tools/binderhub-registry:0.1.0 .": "builds and pushes the image (tests/image builds it)",
    "./scripts/setup image": "builds and pushes the image with buildah (tests/image runs ./scripts/build-image)",
    "git clone https://github.com/binderhub-registry/binderhub-registry": "clones from GitHub and proves push to your registry",
    "./scripts/try-local": "tests/lifecycle/test_try_local.py runs it on the test cluster",
    "./scripts/test": "this suite itself",
    ".venv/bin/python benchmarks/registry_helper.py --rounds 5":
        "a benchmark that prints figures (run by hand; its parts are tested in tests/helper)",
    "scripts/cluster up": "the cluster fixture runs up, load and down (tests/fixtures_cluster.py) and every cluster test uses it",
    "for account in binderhub-registry-hook binderhub-registry-helper; do": "calls AWS (EKS Pod Identity associations)",
    "aws ecr describe-repositories --region eu-west-1 --output text \\": "calls AWS (deletes repositories)",
}


@dataclass(frozen=True)
class Block:
    language: str
    line: int
    text: str

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0].split("  #")[0].strip()


def readme_blocks(text: str) -> list[Block]:
    blocks = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S):
        blocks.append(Block(match[1], text[: match.start()].count("\n") + 1, match[2]))
    return blocks


BLOCKS = readme_blocks(README.read_text())
SHELL_BLOCKS = [block for block in BLOCKS if block.language == "bash"]
YAML_BLOCKS = [block for block in BLOCKS if block.language == "yaml"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's name)
        pass


@functools.cache
def chart_repository(helm_binary: str) -> str:
    """A Helm repository on loopback with BinderHub's chart at the version Chart.yaml pins (the
    test archive repackaged under that version, as `helm pull` would fetch it)."""
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"binderhub-registry-readme-repo-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "src").mkdir(parents=True)
    (work / "repo").mkdir()
    with tarfile.open(binderhub_archive()) as archive:
        archive.extractall(work / "src", filter="data")
    package = [helm_binary, "package", "--version", PIN["version"], "--destination", str(work / "repo"), str(work / "src" / "binderhub")]
    subprocess.run(package, check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(work / "repo")))
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    subprocess.run([helm_binary, "repo", "index", str(work / "repo"), "--url", url], check=True, capture_output=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return url


def workspace(tmp_path: Path, helm_binary: Path, *, with_dependency: bool) -> tuple[Path, dict[str, str]]:
    """A directory as a user has it after cloning (`./chart`, their BinderHub values, a key file),
    and the environment the README's commands expect (HOOK_IMAGE and the passwords exported)."""
    repo_url = chart_repository(str(helm_binary))
    cwd = tmp_path / "clone"
    shutil.copytree(SOURCE_CHART, cwd / "chart", ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    if with_dependency:
        shutil.copytree(built_chart() / "charts", cwd / "chart" / "charts")
    chart_yaml = cwd / "chart" / "Chart.yaml"  # its dependency from the local repository, as from jupyterhub's
    chart_yaml.write_text(chart_yaml.read_text().replace(f"repository: {PIN['repository']}", f"repository: {repo_url}"))
    (cwd / "my-binderhub.yaml").write_text("binderhub:\n  config:\n    BinderHub:\n      hub_url: https://hub.example.org\n")
    (cwd / "my-binder-release.yaml").write_text("config:\n  BinderHub:\n    hub_url: https://hub.example.org\n")
    (cwd / "admin-key.json").write_text("{}\n")
    shims = tmp_path / "shims"
    shims.mkdir()
    for program in ("helm", "kubectl", "gcloud"):
        shim = shims / program
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{SHIMS}" "{program}" "$@"\n')
        shim.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{shims}:{os.environ['PATH']}",
        "README_HELM": str(helm_binary),
        "README_KUBECTL": str(ROOT / ".tools" / "bin" / "kubectl"),
        "README_CHART_REPO": repo_url,
        "README_LOG": str(tmp_path / "commands.jsonl"),
        "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
        "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
        "HELM_DATA_HOME": str(tmp_path / "helm-data"),
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
        "HOOK_IMAGE": "registry.example.org/tools/binderhub-registry",
        "REGISTRY_PASSWORD": "registry-password-1",
        "DOCKERHUB_TOKEN": "dckr_pat_example",
        "HARBOR_ADMIN_PASSWORD": "harbor-admin-password-1",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-access-key-1",
        "READ_ONLY_TOKEN": "read-only-token-1",
    }
    return cwd, env


def commands_run(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "commands.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def run_shell(text: str, tmp_path: Path, helm_binary: Path) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    needs_build = "helm dependency build" in text or "helm pull" in text
    cwd, env = workspace(tmp_path, helm_binary, with_dependency=not needs_build)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return result, commands_run(tmp_path)


def test_every_shell_block_is_run_or_listed_with_a_reason():
    listed = {block.first_line for block in SHELL_BLOCKS} & set(NOT_RUN)
    assert listed == set(NOT_RUN), f"NOT_RUN names blocks the README no longer has: {set(NOT_RUN) - listed}"
    assert len(SHELL_BLOCKS) - len(NOT_RUN) >= 7 and YAML_BLOCKS


@pytest.mark.parametrize("version", ["3", "4"])
@pytest.mark.parametrize("block", [b for b in SHELL_BLOCKS if b.first_line not in NOT_RUN], ids=lambda b: f"README.md:{b.line}")
def test_each_shell_block_of_the_readme_runs_as_written(helm_binaries, tmp_path, version, block):
    result, commands = run_shell(block.text, tmp_path, helm_binaries[version])
    assert result.returncode == 0, f"README.md:{block.line} with Helm {version}:\n{result.stderr[-3000:]}"
    helm_commands = [c for c in commands if c["program"] == "helm"]
    written = len(re.findall(r"^helm ", block.text, re.M))
    assert len(helm_commands) == written and all(c["code"] == 0 for c in commands)


@pytest.mark.parametrize("version", ["3", "4"])
@pytest.mark.parametrize("block", YAML_BLOCKS, ids=lambda b: f"README.md:{b.line}")
def test_each_yaml_block_of_the_readme_is_accepted_by_helm_install(helm_binaries, tmp_path, version, block):
    """A values excerpt, given to `helm install -f` with a registry's values, as the text says."""
    path = tmp_path / "excerpt.yaml"
    path.write_text(block.text)
    registry = write_values(tmp_path / "registry.yaml", GENERIC)
    result = helm(helm_binaries, version, "template", "binderhub", str(built_chart()), "-f", str(registry), "-f", str(path))
    assert result.returncode == 0, f"README.md:{block.line}: {result.stderr}"


def test_the_offline_block_puts_the_pinned_binderhub_chart_where_helm_dependency_list_finds_it(helm_binaries, tmp_path):
    (block,) = [b for b in SHELL_BLOCKS if "helm pull binderhub" in b.text]
    result, _ = run_shell(block.text, tmp_path, helm_binaries["4"])
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^binderhub\s+{re.escape(PIN['version'])}\s+\S+\s+ok\s*$", result.stdout, re.M), result.stdout
    assert PIN["version"] in block.text and "--version" in block.text


@pytest.mark.parametrize("version", ["3", "4"])
def test_without_the_repository_helm_dependency_build_fails_as_troubleshooting_says(helm_binaries, tmp_path, version):
    cwd, env = workspace(tmp_path, helm_binaries[version], with_dependency=False)
    chart_yaml = cwd / "chart" / "Chart.yaml"
    nowhere = "repository: http://127.0.0.1:9/helm-chart"  # nothing listens on port 9
    chart_yaml.write_text(re.sub(r"repository: \S+", nowhere, chart_yaml.read_text()))
    result = subprocess.run([str(helm_binaries[version]), "dependency", "build", "./chart"], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "no cached repository for helm-manager-" in result.stderr
    assert "`no cached repository for helm-manager-" in README.read_text()


def test_the_companion_commands_name_the_repository_and_the_pinned_version():
    annotations = CHART_YAML["annotations"]
    assert annotations["binderhub-registry/binderhub-version"] == PIN["version"]
    assert annotations["binderhub-registry/binderhub-repository"].rstrip("/") == PIN["repository"].rstrip("/")
    readme = README.read_text()
    assert f"helm repo add jupyterhub {PIN['repository'].rstrip('/')}/" in readme
    assert f"jupyterhub/binderhub --version {PIN['version']}" in readme


def test_notes_companion_commands_run_as_printed(helm_binaries, tmp_path):
    """Helm 4 prints NOTES.txt without a cluster (`--dry-run=client`); its companion commands
    then run like the README's, with the user's own values file in place of the placeholder."""
    result = helm(helm_binaries, "4", "install", "binderhub-registry", str(built_chart()), "--dry-run=client", "--namespace", "binder",
                  "-f", str(write_values(tmp_path / "values.yaml", GENERIC)), "--set", "binderhub.enabled=false")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    commands = re.search(r"^  kubectl .*?-f binderhub-values\.yaml\n", notes, re.M | re.S)
    assert commands, notes
    text = "\n".join(line.strip() for line in commands[0].splitlines()).replace("<your BinderHub values>", "my-binder-release.yaml")
    assert f"--version {PIN['version']}" in text and "helm repo add jupyterhub" in text
    ran, logged = run_shell(text, tmp_path / "run", helm_binaries["4"])
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert [c["args"][:2] for c in logged if c["program"] == "helm"] == [["repo", "add"], ["repo", "update"], ["upgrade", "--install"]]
