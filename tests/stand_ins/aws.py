"""Amazon ECR, STS and IAM for the tests: moto run as a server (its own ``ThreadedMotoServer``),
spoken to with the real boto3 client, which validates every request against AWS's service model.

What moto does not do, and the glue here adds, keeping to what AWS does:

* ``EcrTokenFront``, in front of moto: moto answers ``GetAuthorizationToken`` with one fixed token
  per account (``AWS:<account>-auth-token``) that expired in 2015, so no registry could tell a
  fresh token from a stale or guessed one. The front forwards every request to moto unchanged;
  only on a ``GetAuthorizationToken`` that moto answered 200 does it replace each token with a
  fresh random one that expires 12 hours later (as ECR's do) by the stand-in's clock, recorded
  for the account moto issued it to. Everything moto refuses stays refused.
* ``EcrRegistryGate``, in front of the real registry (distribution): the account's ECR registry.
  Like ECR it speaks HTTP Basic with user ``AWS`` and the token's password, and it refuses (401,
  Basic challenge naming ``ecr.amazonaws.com``) a token it did not issue, one issued for another
  account, and one past its 12 hours; and it answers 404 ``NAME_UNKNOWN`` for a repository that
  does not exist in moto's ECR (ECR refuses pushes to repositories nobody created). A manifest
  the registry stored is put into moto's ECR too (``PutImage``), so ``DescribeImages`` finds what
  was pushed, as ECR's API and registry share one store.

The clock is the stand-in's (``advance``), never a sleep."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.stand_ins.basic_auth_proxy import REPOSITORY_PATH, BasicAuthRegistryProxy, _Handler
from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer

TOKEN_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
TOKEN_LIFETIME_SECONDS = 12 * 3600
DEFAULT_ACCOUNT = "123456789012"  # moto's account for credentials it did not issue
REGION = "eu-west-1"


@dataclass(frozen=True)
class IssuedToken:
    account: str
    expires_at: float


class AwsClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class MotoServer:
    """moto's server on loopback, an ephemeral port; its state is moto's backends in this process."""

    def __init__(self) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: PLC0415

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        httpx.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def enforce_iam(self, enforce: bool) -> None:
        """moto's own IAM enforcement: every request then needs a known access key, a valid
        signature and a policy allowing its action (off by default)."""
        httpx.post(f"{self.url}/moto-api/reset-auth", content=b"0" if enforce else b"inf", timeout=10).raise_for_status()


class EcrTokenFront(LoopbackHttpServer):
    """moto, with fresh 12-hour ECR tokens recorded per account (module docstring)."""

    thread_name = "ecr-token-front"

    def __init__(self, moto_url: str, clock: AwsClock) -> None:
        super().__init__()
        self.moto_url = moto_url
        self.clock = clock
        self.issued: dict[str, IssuedToken] = {}  # password -> to whom, until when
        self.token_calls = 0
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=moto_url, timeout=30)

    def handler_class(self) -> type[LoopbackHandler]:
        return type("Handler", (_FrontHandler,), {"owner": self})

    def on_stop(self) -> None:
        self._client.close()

    def issue(self, account: str) -> str:
        password = secrets.token_urlsafe(48)
        with self._lock:
            self.issued[password] = IssuedToken(account, self.clock() + TOKEN_LIFETIME_SECONDS)
            self.token_calls += 1
        return base64.b64encode(f"AWS:{password}".encode()).decode()

    def rewrite(self, body: bytes) -> bytes:
        answer = json.loads(body)
        for data in answer.get("authorizationData") or []:
            account = data["proxyEndpoint"].split("://", 1)[1].split(".", 1)[0]
            data["authorizationToken"] = self.issue(account)
            data["expiresAt"] = self.clock() + TOKEN_LIFETIME_SECONDS
        return json.dumps(answer).encode()

    def valid(self, password: str, account: str) -> bool:
        with self._lock:
            token = self.issued.get(password)
        return token is not None and token.account == account and self.clock() < token.expires_at


class _FrontHandler(LoopbackHandler):
    owner: EcrTokenFront

    def _handle(self) -> None:
        front = self.owner
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # Host stays as signed: moto checks SigV4 signatures when it enforces IAM
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length", "connection")}
        answer = front._client.request(self.command, self.path, headers=headers, content=body)
        content = answer.content
        if self.headers.get("X-Amz-Target") == TOKEN_TARGET and answer.status_code == 200:
            content = front.rewrite(content)
        self.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding", "server", "date"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815


class EcrRegistryGate(BasicAuthRegistryProxy):
    """The ECR registry of ``account`` in ``region``, on distribution (module docstring)."""

    thread_name = "ecr-registry-gate"

    def __init__(self, upstream: str, front: EcrTokenFront, account: str, region: str = REGION) -> None:
        super().__init__(upstream, {}, denied_status=403, realm=f"https://{account}.dkr.ecr.{region}.amazonaws.com/")
        self.front = front
        self.ecr_account = account
        self.region = region

    @property  # type: ignore[override]
    def projects(self) -> list[str]:
        """The repositories that exist in moto's ECR of the account, now."""
        from moto.ecr.models import ecr_backends  # noqa: PLC0415

        return list(ecr_backends[self.ecr_account][self.region].repositories)

    @projects.setter
    def projects(self, value: Any) -> None:
        pass

    def account(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.lower().startswith("basic "):
            return None
        try:
            username, _, password = base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
        except ValueError:
            return None
        return "AWS" if username == "AWS" and self.front.valid(password, self.ecr_account) else None

    def allowed(self, account: str, repository: str, action: Any) -> bool:
        return True

    def handler_class(self) -> type[LoopbackHandler]:
        return type("Handler", (_GateHandler,), {"owner": self})

    def stored(self, path: str, manifest: bytes, media_type: str, digest: str) -> None:
        """A manifest distribution stored: into moto's ECR as well."""
        from moto.ecr.models import ecr_backends  # noqa: PLC0415

        match = REPOSITORY_PATH.match(path)
        assert match is not None
        tag = (match["rest"] or "/").lstrip("/")
        ecr_backends[self.ecr_account][self.region].put_image(match["name"], manifest.decode(), tag, media_type, digest)

    def refusal(self, status: int, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        status_, headers, body = super().refusal(status, authorization)
        if "WWW-Authenticate" in headers:
            headers["WWW-Authenticate"] += ',service="ecr.amazonaws.com"'
        return status_, headers, body


class _GateHandler(_Handler):
    owner: EcrRegistryGate

    def _forward(self, body: bytes, keep_authorization: bool) -> tuple[int, dict[str, str], bytes]:
        answer = super()._forward(body, keep_authorization)
        path = self.path.split("?", 1)[0]
        if self.command == "PUT" and "/manifests/" in path and answer[0] == 201:
            digest = next(v for k, v in answer[1].items() if k.lower() == "docker-content-digest")
            self.owner.stored(path, body, self.headers.get("Content-Type") or "", digest)
        return answer


def aws_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a process that speaks to the stand-in: no profile files, moto's endpoint."""
    return {
        "AWS_ENDPOINT_URL": endpoint, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": REGION, **extra,
    }


def access_keys(account: str = DEFAULT_ACCOUNT) -> dict[str, str]:
    """Static access keys moto attributes to its default account."""
    return {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}


