"""The hook image built by ./scripts/build-image, run as the chart runs it (uid 65532, read-only
root, /tmp the only writable place, no capabilities, no new privileges) against the real
registry (distribution 2.8.2) with Basic and token auth and the Kubernetes API stand-in."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fixtures_google import AR_HOST, google_values
from tests.helpers import CliResult, binderhub_config, generic_values, secret_docker_config, write_secret_docker_config, write_values
from tests.image.container import REPO_ROOT, VALUES_PATH, container_name, run_image, started_in_image

pytestmark = pytest.mark.timeout(1800)  # the first test waits for the one-off image build

SIZE_LIMIT_BYTES = 180_000_000
CODE_OBJECT = re.compile(r"^# code object from '?([^']+)'?$", re.MULTILINE)
# Every module the package imports anywhere (lazy imports in functions included), imported in
# the image: the native libraries of grpc, cryptography and the rest must load there.
IMPORT_EVERYTHING = """
import ast, importlib, pathlib, binderhub_registry
package = pathlib.Path(binderhub_registry.__file__).parent
names = set()
for source in package.rglob("*.py"):
    module = ".".join(("binderhub_registry", *source.relative_to(package).with_suffix("").parts)).removesuffix(".__init__")
    if not module.endswith("__main__"):
        names.add(module)
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
failed = []
for name in sorted(names):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:  # an attribute imported with from-import is no module: fine
            failed.append(f"{name}: {exc}")
    except ImportError as exc:
        failed.append(f"{name}: {exc}")
print(len(names), "imports;", "failed:", failed)
"""


def values_file(tmp_path: Path, values: dict) -> dict[Path, str]:
    return {write_values(tmp_path / "values.yaml", values): VALUES_PATH}


def compiled_from_source(stderr: str) -> list[str]:
    """Modules a PYTHONVERBOSE run compiled instead of reading bytecode."""
    return [path for path in CODE_OBJECT.findall(stderr) if not path.endswith(".pyc")]


def test_help_runs_as_uid_65532_on_a_read_only_root(hook_image):
    result = run_image(hook_image, "--help")
    assert result.code == 0, result.stderr
    assert "provision" in result.stdout and "check" in result.stdout
    assert result.stderr == ""


def test_render_prints_the_secret_reading_bytecode_for_every_module(hook_image, tmp_path):
    values = generic_values("https://registry.example.org", "robot", "pw-render-only-0123456789")
    result = run_image(hook_image, "render", "--values", VALUES_PATH, mounts=values_file(tmp_path, values),
                       env={"PYTHONVERBOSE": "1"})
    assert result.code == 0, result.last_line
    assert result.document("Secret")["type"] == "kubernetes.io/dockerconfigjson"
    assert len(CODE_OBJECT.findall(result.stderr)) > 100  # the verbose trace is there
    assert compiled_from_source(result.stderr) == []


def test_every_module_the_hook_imports_loads_from_bytecode_in_the_image(hook_image):
    result = run_image(hook_image, "-c", IMPORT_EVERYTHING, options=["--entrypoint", "/opt/binderhub-registry/bin/python"],
                       env={"PYTHONVERBOSE": "1"})
    assert result.code == 0, result.stderr[-3000:]
    assert "failed: []" in result.stdout, result.stdout
    assert compiled_from_source(result.stderr) == []


@pytest.mark.parametrize("auth", ["htpasswd", "token"])
def test_provision_output_then_check_with_the_written_config(hook_image, tmp_path, auth, htpasswd_registry, token_registry):
    registry = htpasswd_registry if auth == "htpasswd" else token_registry
    username = "alice" if auth == "htpasswd" else "pusher"
    password = registry.password(username) if auth == "htpasswd" else registry.token_server.password(username)
    mounts = values_file(tmp_path, generic_values(registry.url, username, password))

    provisioned = run_image(hook_image, "provision", "--values", VALUES_PATH, "--output", "-", mounts=mounts)
    assert provisioned.code == 0, provisioned.stderr
    secret = provisioned.document("Secret")
    assert list(secret_docker_config(secret)["auths"]) == [registry.url]
    settings = binderhub_config(provisioned.document("ConfigMap"))
    assert ("token_url" in settings["DockerRegistry"]) == (auth == "token")
    assert password not in provisioned.stderr

    config = write_secret_docker_config(provisioned, tmp_path / "config.json")
    checked = run_image(hook_image, "check", "--values", VALUES_PATH, "--docker-config", "/tmp/docker/config.json",
                        mounts={**mounts, config: "/tmp/docker/config.json"})
    assert checked.code == 0, checked.stderr
    assert "BinderHub can push to" in checked.last_line


def test_wrong_password_exits_1_with_one_sentence(hook_image, tmp_path, htpasswd_registry):
    mounts = values_file(tmp_path, generic_values(htpasswd_registry.url, "alice", "pw-wrong-0123456789abcdef"))
    result = run_image(hook_image, "provision", "--values", VALUES_PATH, "--output", "-", mounts=mounts)
    assert result.code == 1
    assert result.last_line.startswith("error: ") and "Traceback" not in result.stderr


def test_provision_applies_the_secret_through_the_kubernetes_api(hook_image, tmp_path, htpasswd_registry, kube_api):
    """The Kubernetes client, trimmed in the image to what the writer uses, still writes."""
    mounts = values_file(tmp_path, generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")))
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder")
    result = run_image(hook_image, "provision", "--values", VALUES_PATH, "--namespace", "binder",
                       mounts={**mounts, kubeconfig: "/tmp/kubeconfig"}, env={"KUBECONFIG": "/tmp/kubeconfig"})
    assert result.code == 0, result.stderr
    secret = kube_api.get("Secret", "binder", "binderhub-registry")
    assert secret is not None and secret["type"] == "kubernetes.io/dockerconfigjson"


def test_google_provision_creates_the_key_over_grpc_and_applies_it(hook_image, tmp_path, kube_api, google_cloud,
                                                                  google_admin, google_registry):
    """The Google path in the image: google-auth signing with the admin key (cryptography), IAM
    over gRPC, Artifact Registry over REST, then the Kubernetes writer."""
    registry = google_registry(AR_HOST)
    mounts = values_file(tmp_path, google_values(google_cloud, registry))
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder")
    result = run_image(hook_image, "provision", "--values", VALUES_PATH, "--namespace", "binder",
                       mounts={**mounts, kubeconfig: "/tmp/kubeconfig", google_admin.key_file: "/tmp/google/key.json"},
                       env={"KUBECONFIG": "/tmp/kubeconfig", "GOOGLE_APPLICATION_CREDENTIALS": "/tmp/google/key.json"})
    assert result.code == 0, result.stderr
    assert "CreateServiceAccountKey" in {call.method for call in google_cloud.state.writes()}
    assert kube_api.get("Secret", "binder", "binderhub-registry") is not None
    assert google_admin.key_info["private_key"].splitlines()[1] not in result.output


@pytest.fixture
def silent_registry() -> Iterator[tuple[str, threading.Event]]:
    """A TCP server that accepts a connection and never answers: the hook waits on it."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            held.append(listener.accept()[0])
            accepted.set()
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()
    for connection in held:
        connection.close()


def test_sigterm_ends_with_one_sentence_and_exit_3(hook_image, tmp_path, silent_registry, request):
    """What the kubelet does when activeDeadlineSeconds runs out: SIGTERM to the container's
    process 1, which is the CLI itself."""
    url, accepted = silent_registry
    mounts = values_file(tmp_path, generic_values(url, "alice", "pw-sigterm-0123456789abcdef"))
    name = container_name(request.node.name)
    with started_in_image(hook_image, name, "provision", "--values", VALUES_PATH, "--output", "-", mounts=mounts) as process:
        assert accepted.wait(timeout=120), "the hook never connected to the registry"
        subprocess.run(["podman", "kill", "--signal", "TERM", name], check=True, capture_output=True)
        stdout, stderr = process.communicate(timeout=60)
    result = CliResult(process.returncode, stdout, stderr)
    assert result.code == 3
    assert result.last_line.startswith("error: Stopped by SIGTERM")
    assert "Traceback" not in result.stderr


def test_image_is_at_most_180_MB(hook_image):
    size = int(subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", hook_image],
                              capture_output=True, text=True, check=True).stdout)
    assert size <= SIZE_LIMIT_BYTES, f"{size / 1e6:.1f} MB"


def test_image_runs_as_the_user_and_command_the_chart_sets(hook_image):
    config = json.loads(subprocess.run(["podman", "image", "inspect", "--format", "{{json .Config}}", hook_image],
                                       capture_output=True, text=True, check=True).stdout)
    pod = yaml.safe_load((REPO_ROOT / "chart" / "values.yaml").read_text())["hook"]["podSecurityContext"]
    assert config["User"] == f"{pod['runAsUser']}:{pod['runAsGroup']}"
    assert config["Entrypoint"] == ["binderhub-registry"]  # the chart's command: [binderhub-registry]
