"""The EKS Pod Identity agent (add-on ``eks-pod-identity-agent``) as a pod reaches it: the AWS SDKs'
container credential provider asks ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` with the pod's projected
ServiceAccount token (the file ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``) as its ``Authorization``
header, and gets the temporary credentials of the IAM role associated with the ServiceAccount:
``AccessKeyId``, ``SecretAccessKey``, ``Token``, ``AccountId`` and ``Expiration``.

Here the credentials are those of a role assumed in moto, so that moto's IAM enforcement judges
every call made with them. Like the agent, it refuses a request without the token (400) or with
another one (401) instead of handing out the role's credentials.
"""

from __future__ import annotations

import json
from typing import Any

from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer

CREDENTIALS_PATH = "/v1/credentials"


class _AgentHandler(LoopbackHandler):
    def do_GET(self) -> None:  # noqa: N802
        status, payload = self.owner.answer(self.path, self.headers.get_all("Authorization") or [])
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class EksPodIdentityAgent(LoopbackHttpServer):
    request_handler = _AgentHandler

    def __init__(self, credentials: dict[str, Any], token: str) -> None:
        """``credentials``: an STS ``Credentials`` answer (AccessKeyId, SecretAccessKey,
        SessionToken, Expiration); ``token``: the projected ServiceAccount token it accepts."""
        super().__init__()
        self.credentials, self.token = credentials, token
        self.answered: list[int] = []  # the status of every request

    @property
    def credentials_uri(self) -> str:
        return self.url + CREDENTIALS_PATH

    def answer(self, path: str, authorization: list[str]) -> tuple[int, dict[str, Any]]:
        if path != CREDENTIALS_PATH:
            status, payload = 404, {"message": "Not found"}
        elif len(authorization) != 1 or not authorization[0]:
            status, payload = 400, {"message": "Service account token cannot be empty"}
        elif authorization[0] != self.token:
            status, payload = 401, {"message": "Service account token is not valid"}
        else:
            expiration = self.credentials["Expiration"]
            status, payload = 200, {
                "AccessKeyId": self.credentials["AccessKeyId"], "SecretAccessKey": self.credentials["SecretAccessKey"],
                "Token": self.credentials["SessionToken"], "AccountId": self.credentials.get("AccountId", ""),
                "Expiration": expiration if isinstance(expiration, str) else expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        self.answered.append(status)
        return status, payload
