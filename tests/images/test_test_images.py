"""The images a test cluster runs the real BinderHub with, built by ./scripts/build-test-images
(reused while their inputs are unchanged), each started briefly with podman and runc: their
names are the ones the charts reference, and each runs what the chart's pods run."""

from __future__ import annotations

import ast
import http.client
import json
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from tests.fixtures_chart import binderhub_archive
from tests.image.container import REPO_ROOT, RUNTIME, container_name, running
from tests.stand_ins.registry import free_port

pytestmark = [pytest.mark.binderhub, pytest.mark.timeout(3600)]  # a cold build of all takes minutes

BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-test-images"
INPUTS_LABEL = "org.binderhub-registry.test-image.inputs"  # the hash of an image's inputs
START_TIMEOUT_SECONDS = 60
T = TypeVar("T")
SIGNALS = {"TERM": signal.SIGTERM, "INT": signal.SIGINT, "CHLD": signal.SIGCHLD}


def listed_references() -> dict[str, str]:
    """NAME -> REFERENCE as ./scripts/build-test-images --list prints them (nothing built)."""
    listing = subprocess.run([str(BUILD_SCRIPT), "--list"], capture_output=True, text=True, check=True).stdout
    return dict(line.split(" ", 1) for line in listing.splitlines())


@pytest.fixture(scope="session")
def built_test_image() -> Callable[[str], str]:
    """built_test_image(NAME): its reference, built by ./scripts/build-test-images once per session."""
    built: dict[str, str] = {}

    def build(name: str) -> str:
        if name not in built:
            proc = subprocess.run([str(BUILD_SCRIPT), name], capture_output=True, text=True, timeout=3000)
            if proc.returncode != 0:
                pytest.fail(f"./scripts/build-test-images {name} failed: {proc.stderr.strip()[-3000:]}", pytrace=False)
            built[name] = proc.stdout.split()[-1]
        return built[name]

    return build


def run(reference: str, *args: str, entrypoint: str | None = None, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    command = ["podman", "run", "--rm", *RUNTIME, "--network", "host", *options]
    if entrypoint is not None:
        command += ["--entrypoint", entrypoint]
    return subprocess.run([*command, reference, *args], capture_output=True, text=True, timeout=300)


def image_config(reference: str, field: str) -> list[str]:
    """A list field of the image's configuration (Entrypoint, Env, ...)."""
    inspected = subprocess.run(["podman", "image", "inspect", "--format", f"{{{{json .Config.{field}}}}}", reference],
                               capture_output=True, text=True, check=True)
    return list(json.loads(inspected.stdout))


def started(reference: str, name: str, *args: str, options: tuple[str, ...] = ()) -> AbstractContextManager[subprocess.Popen[str]]:
    """The container running in the background as ``name``; removed afterwards."""
    return running(["podman", "run", "--rm", "--name", name, *RUNTIME, "--network", "host", *options, reference, *args], name)


def poll_until(condition: Callable[[], T], failure: str) -> T:
    """condition()'s first true value, checked until START_TIMEOUT_SECONDS have passed."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # bounded poll, not test synchronisation
    pytest.fail(failure)


def still_running(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        pytest.fail(f"the container exited with {process.returncode}: {process.communicate()[1][-2000:]}")


def get_when_answering(process: subprocess.Popen[str], port: int, path: str,
                       headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """GET http://127.0.0.1:PORT/PATH once the container listens; fails if it exits first."""
    def get() -> http.client.HTTPResponse | None:
        still_running(process)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            response.read()
            return response
        except OSError:
            return None
        finally:
            connection.close()
    return poll_until(get, f"nothing answered on 127.0.0.1:{port} within {START_TIMEOUT_SECONDS} s")


def extracted(tar: tarfile.TarFile, member: str) -> bytes:
    file = tar.extractfile(member)
    assert file is not None, member
    return file.read()


def chart_values(archive: Path) -> dict[str, dict]:
    """values.yaml of BinderHub's packaged chart and of its jupyterhub dependency."""
    with tarfile.open(archive) as tar:
        return {"binderhub": yaml.safe_load(extracted(tar, "binderhub/values.yaml")),
                "jupyterhub": yaml.safe_load(extracted(tar, "binderhub/charts/jupyterhub/values.yaml"))}


def image_of(values: dict, *keys: str) -> str:
    for key in keys:
        values = values[key]
    return f"{values['name']}:{values['tag']}"


def test_each_image_is_named_as_the_charts_reference_it():
    values = chart_values(binderhub_archive())
    jupyterhub = values["jupyterhub"]
    assert listed_references() == {
        "binderhub": image_of(values["binderhub"], "image"),
        "hub": image_of(jupyterhub, "hub", "image"),
        "chp": image_of(jupyterhub, "proxy", "chp", "image"),
        "singleuser": image_of(jupyterhub, "singleuser", "image"),
        "pause": image_of(jupyterhub, "scheduling", "userPlaceholder", "image"),
        "registry": "localhost/binderhub-registry-test/registry:2.8.2",
    }
    assert image_of(jupyterhub, "prePuller", "pause", "image") == listed_references()["pause"]


def test_an_unknown_name_is_refused_with_the_known_ones():
    proc = subprocess.run([str(BUILD_SCRIPT), "kube-scheduler"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("build-test-images: no image called 'kube-scheduler' "
                                   "(one of: binderhub hub chp singleuser pause registry)")


def test_a_second_build_reuses_the_image(built_test_image):
    reference = built_test_image("pause")
    image_id = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", reference],
                              capture_output=True, text=True, check=True).stdout
    proc = subprocess.run([str(BUILD_SCRIPT), "pause"], capture_output=True, text=True, check=True)
    assert "building" not in proc.stderr
    assert subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", reference],
                          capture_output=True, text=True, check=True).stdout == image_id


def test_an_image_whose_inputs_changed_is_rebuilt(built_test_image):
    reference = built_test_image("pause")
    # An image under the same name whose inputs label is not the recipe's, as after an edit.
    container = subprocess.run(["buildah", "from", "scratch"], capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["buildah", "config", "--label", f"{INPUTS_LABEL}=inputs-of-an-older-recipe", container], check=True)
    subprocess.run(["buildah", "commit", "--quiet", "--rm", container, reference], capture_output=True, check=True)
    proc = subprocess.run([str(BUILD_SCRIPT), "pause"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert f"building {reference}" in proc.stderr
    assert run(reference, "-v").returncode == 0


def test_binderhub_imports_pycurl_and_its_app_as_uid_1000(built_test_image):
    result = run(built_test_image("binderhub"), "-c", "import os, pycurl, binderhub.app; print(os.getuid(), binderhub.__version__)",
                 entrypoint="python")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1000", "1.0.0.dev3959+gb9fad995"]
    # Declared by the image, not left to a runtime's reading of /etc/passwd (~/.docker is read).
    assert "HOME=/home/binder" in image_config(built_test_image("binderhub"), "Env")


def test_binderhub_entrypoint_is_binderhub_under_tini(built_test_image):
    # The chart's Deployment passes arguments only; the entrypoint must be BinderHub's.
    result = run(built_test_image("binderhub"), "--help")
    assert result.returncode == 0, result.stderr
    assert "--BinderHub." in result.stdout
    assert image_config(built_test_image("binderhub"), "Entrypoint") == ["tini", "--", "python", "-m", "binderhub"]


def test_hub_runs_jupyterhub_as_jovyan_in_srv_jupyterhub(built_test_image):
    # The chart's hub Deployment passes `jupyterhub --config ...` as arguments to the entrypoint.
    assert image_config(built_test_image("hub"), "Entrypoint") == ["tini", "--"]
    result = run(built_test_image("hub"), "jupyterhub", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5.3.0"
    where = run(built_test_image("hub"), "python", "-c",
                "import os, pwd, kubespawner; print(pwd.getpwuid(os.getuid()).pw_name, os.getuid(), os.getcwd())")
    assert where.returncode == 0, where.stderr
    assert where.stdout.split() == ["jovyan", "1000", "/srv/jupyterhub"]


def test_hub_imports_what_the_charts_hub_config_imports(built_test_image):
    with tarfile.open(binderhub_archive()) as tar:
        sources = [extracted(tar, f"binderhub/charts/jupyterhub/files/hub/{name}").decode()
                   for name in ("jupyterhub_config.py", "z2jh.py")]
    modules = sorted({name for source in sources for name in imported_modules(source)} - {"z2jh"})
    assert {"kubernetes_asyncio", "tornado.httpclient", "yaml"} <= set(modules)
    # The config switches tornado to its curl client: pycurl must load with the image's libcurl.
    code = f"import {', '.join(modules)}, tornado.curl_httpclient; print('imported')"
    result = run(built_test_image("hub"), "python", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


def imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_configurable_http_proxy_is_4_6_3_and_serves_its_api(built_test_image):
    reference = built_test_image("chp")
    version = run(reference, "--version", entrypoint="configurable-http-proxy")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "4.6.3"
    api_port, proxy_port = free_port(), free_port()
    # As the chart's proxy Deployment runs it (its command in full), on loopback ports.
    with started(reference, container_name("chp"), "--ip=127.0.0.1", "--api-ip=127.0.0.1", f"--api-port={api_port}",
                 f"--port={proxy_port}", "--default-target=http://127.0.0.1:9", "--error-target=http://127.0.0.1:9/hub/error",
                 options=("--env", "CONFIGPROXY_AUTH_TOKEN=test-token", "--entrypoint", "configurable-http-proxy")) as process:
        refused = get_when_answering(process, api_port, "/api/routes")
        routes = get_when_answering(process, api_port, "/api/routes", {"Authorization": "token test-token"})
    assert refused.status == 403
    assert routes.status == 200


def test_singleuser_has_jupyterhub_singleuser_as_jovyan(built_test_image):
    result = run(built_test_image("singleuser"), "jupyterhub-singleuser", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "5.3.0"
    who = run(built_test_image("singleuser"), "id", "-un")
    assert who.stdout.strip() == "jovyan"


def host_pid(name: str) -> int:
    """The host's process id of the container's first process (0 while it is not running)."""
    pid = subprocess.run(["podman", "inspect", "--format", "{{.State.Pid}}", name], capture_output=True, text=True).stdout.strip()
    return int(pid or 0)


def wait_for_handlers(process: subprocess.Popen[str], name: str, signals: set[int]) -> int:
    """Wait until the container's process has handlers for these signals (SigCgt in /proc); its pid."""
    def handling() -> int:
        still_running(process)
        pid = host_pid(name)
        if not pid:
            return 0
        status = Path(f"/proc/{pid}/status").read_text()
        mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        return pid if all(mask >> (number - 1) & 1 for number in signals) else 0
    return poll_until(handling, f"the container {name} never ran with handlers for signals {sorted(signals)}")


@pytest.mark.parametrize("stop", ["TERM", "INT"])
def test_pause_runs_until_asked_to_stop_and_exits_0(built_test_image, stop):
    name = container_name(f"pause-{stop}")
    with started(built_test_image("pause"), name) as process:
        # As PID 1 it would ignore a signal it has no handler for: wait until it has them.
        wait_for_handlers(process, name, {SIGNALS[stop], SIGNALS["CHLD"]})
        assert process.poll() is None
        subprocess.run(["podman", "kill", "--signal", stop, name], capture_output=True, check=True)
        assert process.wait(timeout=60) == 0


def test_registry_serves_v2_with_the_config_mounted_at_run_time(built_test_image, tmp_path):
    port = free_port()
    config = tmp_path / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")
    config.chmod(0o644)
    with started(built_test_image("registry"), container_name("registry"),
                 options=("--volume", f"{config}:/etc/docker/registry/config.yml:ro", "--tmpfs", "/var/lib/registry")) as process:
        response = get_when_answering(process, port, "/v2/")
    assert response.status == 200
    assert response.getheader("Docker-Distribution-API-Version") == "registry/2.0"


def test_pause_reaps_the_orphans_of_the_pod(built_test_image):
    """Pause is PID 1 of a pod sharing its process namespace: orphans become its children, and
    an orphan that exits must not stay a zombie."""
    pause, other = container_name("pause-reaper"), container_name("orphan-maker")
    base = subprocess.run([str(REPO_ROOT / "scripts" / "base-image")], capture_output=True, text=True, check=True).stdout.strip()
    with started(built_test_image("pause"), pause) as process:
        pause_pid = wait_for_handlers(process, pause, {SIGNALS["CHLD"]})
        children = Path(f"/proc/{pause_pid}/task/{pause_pid}/children")
        # The subshell exits at once: its sleep is orphaned, in the pod's namespace, to pause.
        with started(base, other, "sh", "-c", "(sleep 1000 &); exec sleep 2000", options=("--pid", f"container:{pause}")):
            orphan = int(poll_until(lambda: children.read_text().split(), "no orphan was reparented to pause")[0])
            os.kill(orphan, signal.SIGKILL)
            poll_until(lambda: not Path(f"/proc/{orphan}").exists(), f"the killed orphan {orphan} stayed a zombie of pause")
        assert process.poll() is None

