"""Stand-ins for keyless Google: IAM Credentials ``generateAccessToken`` and the GKE metadata
server a pod with Workload Identity asks for tokens. They share :class:`GoogleCloudState` with
the other Google stand-ins (``google_cloud.py``), so a token minted here is what the Artifact
Registry API and the registry token service (``oauth2accesstoken`` logins) accept, until it
expires on the state's clock.

What they enforce, as Google does:

* ``generateAccessToken`` only for a caller that holds ``iam.serviceAccounts.getAccessToken`` on
  the target account: ``roles/iam.workloadIdentityUser`` or ``roles/iam.serviceAccountTokenCreator``
  in the account's own policy (or on the project); 403 otherwise, with IAM's text. A scope is
  required; lifetimes above 3600 s are refused (without the org-policy extension); the IAM
  Credentials API must be enabled in the account's project.
* the GKE metadata server answers only requests with ``Metadata-Flavor: Google`` and without
  ``X-Forwarded-For``. For a Kubernetes ServiceAccount annotated with
  ``iam.gke.io/gcp-service-account`` it returns that account's token, minted with
  ``generateAccessToken`` as the Workload Identity member ``PROJECT.svc.id.goog[NS/KSA]`` (so the
  binding must exist); without the annotation it returns a federated token for that member.

Bindings added to an account's own policy take ``state.account_binding_checks`` permission
evaluations to apply (Google: minutes), counted like the repository bindings of ``google_cloud.py``.

Simpler than Google: the metadata server reuses a token until it has 300 s left (GUESS: GKE's
metadata server caches tokens, its exact refresh point is not documented); federated tokens
are opaque strings known to the state, like every other token here.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message

from tests.stand_ins.google_cloud import (
    GET_ACCESS_TOKEN,
    IAM_CREDENTIALS_API,
    ApiError,
    CallContext,
    GoogleCloudState,
    _json_reply,
    _LoopbackHttpServer,
    permission_denied,
)
from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer

MAX_LIFETIME = 3600
METADATA_REUSE_FLOOR = 300.0
_GENERATE = re.compile(r"^/v1/projects/-/serviceAccounts/(?P<account>[^/:]+):generateAccessToken$")


def workload_identity_member(project_id: str, namespace: str, service_account: str) -> str:
    """The IAM member a Kubernetes ServiceAccount is known by under Workload Identity."""
    return f"serviceAccount:{project_id}.svc.id.goog[{namespace}/{service_account}]"


def generate_access_token(state: GoogleCloudState, call: CallContext, account: str, scopes: list[str],
                          lifetime_seconds: int) -> tuple[str, float]:
    """IAM Credentials' decision for ``caller`` asking a token for ``account``; records the call."""
    call.resource = f"projects/-/serviceAccounts/{account}"
    try:
        with state.lock:
            record = next((r for r in state.service_accounts.values() if account in (r.email, r.unique_id)), None)
            # Google answers 403 alike for a missing account and a missing permission
            if record is None or GET_ACCESS_TOKEN not in state.service_account_permissions(record, call.caller):
                raise permission_denied(GET_ACCESS_TOKEN, "iam.googleapis.com")
            project = state.projects[record.project_id]
            failure = state.take_failure("GenerateAccessToken", IAM_CREDENTIALS_API, project.number)
            if failure is not None:
                raise failure
            if IAM_CREDENTIALS_API not in project.enabled_apis:
                from tests.stand_ins.google_cloud import service_disabled  # noqa: PLC0415

                raise service_disabled(IAM_CREDENTIALS_API, project.number)
            if not scopes:
                raise ApiError("INVALID_ARGUMENT", "Scope required.")
            if lifetime_seconds > MAX_LIFETIME or lifetime_seconds <= 0:
                raise ApiError("INVALID_ARGUMENT", (  # GUESS: close to Google's wording
                    f"The lifetime of the token must be between 1 and {MAX_LIFETIME} seconds."))
            token = state.issue_token(record.email, lifetime_seconds)
    except ApiError as err:
        state.record(call, err.status)
        raise
    state.record(call, "OK")
    return token


def expire_time_text(expires_at: float) -> str:
    return datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration_seconds(text: object) -> int:
    """A google.protobuf.Duration in proto3 JSON ("600s", "1.5s"): the unit is required, as
    Google's REST API parses it (it refuses "600" with 400)."""
    if not isinstance(text, str) or not re.fullmatch(r"\d+(\.\d{1,9})?s", text):
        raise ApiError("INVALID_ARGUMENT",
                       f"Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), {json.dumps(text)}")
    return int(float(text[:-1]))


class IamCredentialsServer(_LoopbackHttpServer):
    """``POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken`` over REST, as
    google-auth's impersonated credentials and the registry helper call it."""

    def dispatch(self, method: str, path: str, headers: Message,
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        match = _GENERATE.match(urllib.parse.unquote(urllib.parse.urlsplit(path).path))
        if method != "POST" or match is None:
            return _json_reply(404, ApiError("NOT_FOUND", "Method not found.").to_rest())
        call = CallContext("iamcredentials", "GenerateAccessToken", headers.get("Authorization"))
        try:
            call.caller = self.state.authenticate(call.authorization)
            request = json.loads(body or b"{}")
            lifetime = _duration_seconds(request.get("lifetime", "3600s"))
            token, expires_at = generate_access_token(self.state, call, match.group("account"),
                                                      list(request.get("scope") or []), lifetime)
        except ApiError as err:
            if not call.caller:
                self.state.record(call, err.status)
            return _json_reply(err.http_code, err.to_rest())
        except ValueError:
            return _json_reply(400, ApiError("INVALID_ARGUMENT", "Invalid JSON payload received.").to_rest())
        return _json_reply(200, {"accessToken": token, "expireTime": expire_time_text(expires_at)})


@dataclass(frozen=True)
class PodIdentity:
    """The pod the metadata server answers: its namespace, Kubernetes ServiceAccount and that
    ServiceAccount's ``iam.gke.io/gcp-service-account`` annotation ("" when absent)."""

    project_id: str
    namespace: str
    service_account: str
    gcp_service_account: str = ""

    @property
    def member(self) -> str:
        return workload_identity_member(self.project_id, self.namespace, self.service_account)


class _MetadataHandler(LoopbackHandler):
    owner: GkeMetadataServer

    def do_GET(self) -> None:  # noqa: N802
        status, content_type, payload = self.owner.answer_from(self.client_address[0], self.path, self.headers)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GkeMetadataServer(LoopbackHttpServer):
    """The GKE metadata server for one pod; point clients at it with ``GCE_METADATA_HOST``
    (google-auth) or the helper's metadata host setting. ``token_requests`` counts token calls."""

    request_handler = _MetadataHandler

    def __init__(self, state: GoogleCloudState, pod: PodIdentity) -> None:
        super().__init__()
        self.state = state
        self.pod = pod
        self.token_requests = 0
        #: tests: token requests wait for this Event (when set to one) after signalling arrival
        self.hold_tokens: threading.Event | None = None
        self.token_request_arrived = threading.Event()
        self._lock = threading.Lock()
        self._cached: tuple[str, float] | None = None

    def answer_from(self, _address: str, path: str, headers: Message) -> tuple[int, str, bytes]:
        """This server answers for its one pod, whoever asks."""
        return self.answer(path, headers)

    def answer(self, path: str, headers: Message) -> tuple[int, str, bytes]:
        if headers.get("Metadata-Flavor") != "Google" or headers.get("X-Forwarded-For"):
            return 403, "text/html", b"Missing required header: Metadata-Flavor: Google"
        parts = urllib.parse.urlsplit(path)
        route = parts.path.rstrip("/")
        base = "/computeMetadata/v1/instance/service-accounts/default"
        if route == base + "/email":
            return 200, "application/text", self.email.encode()
        if route == "/computeMetadata/v1/project/project-id":
            return 200, "application/text", self.pod.project_id.encode()
        if route == base and "recursive=true" in parts.query:
            info = {"aliases": ["default"], "email": self.email,
                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
            return 200, "application/json", json.dumps(info).encode()
        if route == base + "/token":
            return self._token()
        return 404, "text/html", b"Not Found"

    @property
    def email(self) -> str:
        return self.pod.gcp_service_account or f"{self.pod.project_id}.svc.id.goog"

    def _token(self) -> tuple[int, str, bytes]:
        self.token_request_arrived.set()
        if self.hold_tokens is not None and not self.hold_tokens.wait(60):
            return 503, "text/plain", b"held too long"
        with self._lock:
            self.token_requests += 1
            now = self.state.clock()
            if self._cached is None or self._cached[1] - now < METADATA_REUSE_FLOOR:
                try:
                    self._cached = self._mint()
                except ApiError as err:
                    text = (f"Unable to generate access token; IAM returned {err.http_code}: {err.message}\n")
                    return err.http_code, "text/plain", text.encode()
            token, expires_at = self._cached
        body = {"access_token": token, "expires_in": int(expires_at - now), "token_type": "Bearer"}
        return 200, "application/json", json.dumps(body).encode()

    def _mint(self) -> tuple[str, float]:
        if not self.pod.gcp_service_account:
            return self.state.issue_token(self.pod.member, MAX_LIFETIME)
        call = CallContext("iamcredentials", "GenerateAccessToken", None, caller=self.pod.member)
        return generate_access_token(self.state, call, self.pod.gcp_service_account,
                                     ["https://www.googleapis.com/auth/cloud-platform"], MAX_LIFETIME)

    def forget(self) -> None:
        with self._lock:
            self._cached = None


class GkeNodeMetadataServer(LoopbackHttpServer):
    """The GKE metadata server of a node, for every pod on it: as on GKE, the pod is known by the
    address it asks from (``identify`` maps it to the pod's :class:`PodIdentity`, e.g. by asking
    the API server which pod has that IP and what its ServiceAccount's annotation says); an
    address that is no pod's gets 404. Each identity is answered as :class:`GkeMetadataServer`
    answers for its pod (``pods`` holds them, with their token counts)."""

    request_handler = _MetadataHandler

    def __init__(self, state: GoogleCloudState, identify: Callable[[str], PodIdentity | None]) -> None:
        super().__init__()
        self.state = state
        self.identify = identify
        self.pods: dict[PodIdentity, GkeMetadataServer] = {}
        self._lock = threading.Lock()

    def answer_from(self, address: str, path: str, headers: Message) -> tuple[int, str, bytes]:
        pod = self.identify(address)
        if pod is None:
            return 404, "text/plain", f"no pod has the address {address}".encode()
        with self._lock:
            answering = self.pods.setdefault(pod, GkeMetadataServer(self.state, pod))
        return answering.answer(path, headers)

    def token_requests(self, namespace: str, service_account: str, gcp_service_account: str = "") -> int:
        return sum(server.token_requests for pod, server in self.pods.items()
                   if (pod.namespace, pod.service_account, pod.gcp_service_account)
                   == (namespace, service_account, gcp_service_account))


def grant_on_account(state: GoogleCloudState, account: str, member: str, role: str) -> None:
    """Set-up helper: add ``member`` to ``role`` in the account's own policy (not logged)."""
    with state.lock:
        record = state.service_accounts[account]
        record.bindings.setdefault(role, set()).add(member)
        record.policy_version += 1


def minted_for(state: GoogleCloudState, account: str) -> int:
    """How many tokens IAM Credentials minted for ``account`` (successful calls)."""
    with state.lock:
        return sum(1 for c in state.calls
                   if c.method == "GenerateAccessToken" and c.code == "OK" and c.resource.endswith("/" + account))


__all__ = ["GkeMetadataServer", "GkeNodeMetadataServer", "IamCredentialsServer", "MAX_LIFETIME", "PodIdentity", "expire_time_text",
           "generate_access_token", "grant_on_account", "minted_for", "workload_identity_member"]
