"""`check --registry-helper` (helm test with keyless Google), the hook's side, against a small
loopback helper answering as BinderHub's ExternalRegistryHelper API does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import CliResult, run_cli, write_values
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
        if self._not_found():
            return
        self._json(200, {"name": self.path})

    def do_POST(self) -> None:  # noqa: N802
        self.owner.seen.append(f"POST {self.path}")
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self._not_found():
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._json(401, {"error": "unauthorized"})
        else:
            self._json(200, {"username": "oauth2accesstoken", "password": "ya29.fake", "registry": self.owner.registry})

    def _not_found(self) -> bool:
        """Answer 404 (as the helper does to a path it has no endpoint for) to the requests the test names."""
        if not any(f"{self.command} {self.path}".startswith(prefix) for prefix in self.owner.not_found):
            return False
        self._json(404, {"error": "no such endpoint"})
        return True


class FakeHelper(LoopbackHttpServer):
    request_handler = _Handler

    def __init__(self, registry: str, not_found: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.registry = registry
        self.not_found = not_found  # "METHOD /path" prefixes answered 404
        self.seen: list[str] = []


VALUES = {"registry": {"type": "artifact-registry",
                       "artifactRegistry": {"project": "my-project", "location": "us-central1", "repository": "binder"},
                       "google": {"credential": "workload-identity", "registryUrl": "http://127.0.0.1:9"}},
          "registryHelper": {"name": "binderhub-registry-helper", "namespace": "binder"}}
REPOSITORY = "my-project/binder/binder-push-check"


def check_with(helper: FakeHelper, tmp_path: Path) -> CliResult:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    return run_cli("check", "--values", str(write_values(tmp_path / "values.yaml", VALUES)),
                   "--registry-helper", helper.url, "--registry-helper-token-file", str(token_file))


def test_credentials_the_helper_hands_out_for_another_registry_are_refused(tmp_path):
    """BinderHub would push to the registry of its settings with credentials meant for another:
    exit 1 before any push is tried, naming both."""
    with FakeHelper("https://elsewhere.example.org") as helper:
        result = check_with(helper, tmp_path)
    assert result.code == 1, result.stderr
    assert "hands out credentials for https://elsewhere.example.org, but BinderHub pushes to 127.0.0.1:9" in result.last_line
    assert helper.seen[-1] == "POST /token/my-project/binder/binder-push-check:push-check"


@pytest.mark.parametrize(("not_found", "seen"), [
    (("GET /repo/", "POST /repo/"), [f"GET /repo/{REPOSITORY}", f"POST /repo/{REPOSITORY}"]),
    (("POST /token/",), [f"GET /repo/{REPOSITORY}", f"POST /token/{REPOSITORY}:push-check"]),
], ids=["create", "token"])
def test_a_404_to_creating_the_repository_or_to_the_token_request_ends_check_there(tmp_path, not_found, seen):
    """Only a 404 to ``GET /repo/NAME`` means "missing, create it" (as BinderHub reads it); a 404 to
    the create or to the token request (another service, or a helper without that endpoint) ends
    `check` with exit 3 naming that request, and nothing is asked after it."""
    with FakeHelper("http://127.0.0.1:9", not_found=not_found) as helper:
        result = check_with(helper, tmp_path)
    assert helper.seen == seen
    assert result.code == 3, result.stderr
    assert f"The registry helper answered 404 to {seen[-1]}: no such endpoint" in result.last_line
