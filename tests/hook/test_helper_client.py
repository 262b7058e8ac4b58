"""`check --registry-helper` (helm test with keyless Google), the hook's side, against a small
loopback helper answering as BinderHub's ExternalRegistryHelper API does."""

from __future__ import annotations

import json

from tests.helpers import run_cli, write_values
from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer

TOKEN = "helper-bearer-0123456789"


class _Handler(LoopbackHandler):
    owner: FakeHelper

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self.owner.seen.append(f"GET {self.path}")
        self._json(200, {"name": self.path})

    def do_POST(self) -> None:  # noqa: N802
        self.owner.seen.append(f"POST {self.path}")
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._json(401, {"error": "unauthorized"})
        else:
            self._json(200, {"username": "oauth2accesstoken", "password": "ya29.fake", "registry": self.owner.registry})


class FakeHelper(LoopbackHttpServer):
    request_handler = _Handler

    def __init__(self, registry: str) -> None:
        super().__init__()
        self.registry = registry
        self.seen: list[str] = []


def test_credentials_the_helper_hands_out_for_another_registry_are_refused(tmp_path):
    """BinderHub would push to the registry of its settings with credentials meant for another:
    exit 1 before any push is tried, naming both."""
    values = {"registry": {"type": "artifact-registry",
                           "artifactRegistry": {"project": "my-project", "location": "us-central1", "repository": "binder"},
                           "google": {"credential": "workload-identity", "registryUrl": "http://127.0.0.1:9"}},
              "registryHelper": {"name": "binderhub-registry-helper", "namespace": "binder"}}
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with FakeHelper("https://elsewhere.example.org") as helper:
        result = run_cli("check", "--values", str(write_values(tmp_path / "values.yaml", values)),
                         "--registry-helper", helper.url, "--registry-helper-token-file", str(token_file))
    assert result.code == 1, result.stderr
    assert "hands out credentials for https://elsewhere.example.org, but BinderHub pushes to 127.0.0.1:9" in result.last_line
    assert helper.seen[-1] == "POST /token/my-project/binder/binder-push-check:push-check"
