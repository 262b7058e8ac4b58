"""The registry helper (`binderhub-registry serve`) in the hook image, run as the chart's
Deployment runs it (uid 65532, read-only root, no capabilities): it serves BinderHub's token
request with a token from the (stand-in) GKE metadata server, and SIGTERM ends it with exit 0."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from tests.fixtures_google import BUILDER, PROJECT
from tests.fixtures_workload_identity import HELPER_KSA, HELPER_NAMESPACE, keyless_values
from tests.helpers import write_values
from tests.image.container import VALUES_PATH, container_name, started_in_image
from tests.stand_ins.google_workload_identity import grant_on_account, minted_for, workload_identity_member

pytestmark = pytest.mark.timeout(1800)  # the first test waits for the one-off image build

TOKEN_PATH = "/etc/binderhub-registry/helper-token/token"
TOKEN = "image-helper-token-0123456789abcdef"


def test_serve_in_the_image_hands_out_a_token_and_stops_on_sigterm(hook_image, tmp_path, request, google_cloud, iam_credentials,
                                                                  builder, make_metadata, ar_registry):
    grant_on_account(google_cloud.state, BUILDER, workload_identity_member(PROJECT, HELPER_NAMESPACE, HELPER_KSA),
                     "roles/iam.workloadIdentityUser")
    metadata = make_metadata()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    mounts = {write_values(tmp_path / "values.yaml", keyless_values(google_cloud, ar_registry, iam_credentials)): VALUES_PATH,
              token_file: TOKEN_PATH}
    name = container_name(request.node.name)
    args = ["serve", "--values", VALUES_PATH, "--auth-token-file", TOKEN_PATH, "--listen", "127.0.0.1:0", "--drain-seconds", "0"]
    with started_in_image(hook_image, name, *args, mounts=mounts, env={"GCE_METADATA_HOST": metadata.host}) as process:
        assert process.stdout is not None
        listening = json.loads(process.stdout.readline())
        assert listening["event"] == "listening", listening
        url = f"http://127.0.0.1:{listening['port']}"
        reply = httpx.post(f"{url}/token/{PROJECT}/binder/binder-image:t", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        assert reply.status_code == 200, reply.text
        assert google_cloud.state.authenticate(f"Bearer {reply.json()['password']}") == BUILDER
        subprocess.run(["podman", "kill", "--signal", "TERM", name], check=True, capture_output=True)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    events = [json.loads(line)["event"] for line in stdout.splitlines() if line.startswith("{")]
    assert events[-2:] == ["shutting_down", "stopped"] and "request" in events
    assert TOKEN not in stdout + stderr and reply.json()["password"] not in stdout + stderr
    assert minted_for(google_cloud.state, BUILDER) == 1
