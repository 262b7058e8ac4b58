"""Stand-ins for the Google services the hook uses for ``registry.type=gcr|artifact-registry``.

Why this exists: the hook drives the REAL Google client libraries (google-auth, ``iam_admin_v1``
over gRPC, IAM's and Artifact Registry's REST APIs), and no Google endpoint is reachable from the test
machines. These servers speak the same wire protocols on 127.0.0.1 and enforce what Google
enforces, so the real clients run unmodified against them:

* :class:`GoogleCloudState` - one in-memory world shared by every server: projects and their
  enabled APIs, service accounts and their keys (real RSA-2048 pairs), Artifact Registry
  repositories with IAM policies, project-level roles, an org-policy flag, a count-based IAM
  propagation model, injected 429/503 failures and a call log.
* :class:`OAuthServer` - the token endpoint google-auth's ``service_account.Credentials`` posts its
  JWT-bearer grant to (``token_uri`` in every key file this module writes).
* :class:`IamServer` - ``google.iam.admin.v1.IAM`` on one port, as Google serves it: over gRPC
  (:class:`IamGrpcServer`; the generated client has no REST transport) and, for the two reads the
  hook makes on REST (the account, its keys), over REST.
* :class:`ArtifactRegistryRestServer` - the ``/v1/...`` REST surface of Artifact Registry.
* :class:`GoogleRegistryAuthorizer` - the grant decision of Google's Docker registry
  (``_json_key`` logins, push only with an effective writer role), plus
  :func:`google_token_server`, which plugs it into ``tests/stand_ins/token_server.py``.
* :class:`GoogleCloud` - all of the above started together, with client factories.

Where it is simpler than Google (each is also noted where it matters):

* Roles are granted on projects (immediately effective) or on repositories (subject to
  propagation); there are no folders, organisations, conditions, deny policies or custom roles.
* Propagation is counted, not timed: a binding added by SetIamPolicy is invisible to the first
  ``propagation_checks`` permission evaluations against that repository and visible after. Only
  evaluations that consult the repository's policy count (TestIamPermissions, registry
  authorisations, and AR method checks that project roles do not already satisfy). Removed
  bindings stop working at once (Google delays those too).
  New identities propagate the same way. A service account made by CreateServiceAccount is
  unknown to the first ``account_propagation_checks`` SetIamPolicy calls that name it (400
  INVALID_ARGUMENT "Service account X does not exist.", what Google answers while a new account
  has not propagated: hashicorp/vault-plugin-secrets-gcp#237 and PR #257,
  googleapis/google-cloud-go#11482, the Terraform docs' "creation of service accounts is
  eventually consistent"). A key made by CreateServiceAccountKey is rejected by the first
  ``key_propagation_checks`` authentications that use it (token endpoint, self-signed JWTs,
  ``_json_key`` logins), as if unknown (IAM's docs: "After you create a key, you might need to
  wait for 60 seconds or more before you perform another operation with the key"). Both knobs
  default to ``propagation_checks`` (``None``); accounts and keys made by the set-up helpers are
  usable at once. Google's delays are random; counting makes them the worst case, every time.
  IAM's key calls lag behind a new account too, each on its own: the first
  ``account_read_checks`` key list or create calls naming an account made by
  CreateServiceAccount answer NOT_FOUND "Service account X does not exist.", and then its first
  ``account_key_creation_checks`` CreateServiceAccountKey calls still do (a create that fails so
  while the account already lists; both 0 by default).
* The "consumer" project whose API must be enabled is the project named by (or owning) the
  resource, not the caller's quota project; they coincide in the hook's set-up.
* Only JSON key files (no PKCS12), only RSA-2048, no key upload, no ID tokens.
* Like Google ("Deleting a service account key does not revoke short-lived credentials that
  have been issued based on the service account key"), minted access tokens outlive their key;
  self-signed JWTs do not (they are verified against the key on every call).
* Error texts come from Google's public errors where we found them (see the report for sources);
  the few marked GUESS in comments were not found and are plausible approximations.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import re
import secrets
import select
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from email.message import Message
from http.server import ThreadingHTTPServer
from typing import Any, NamedTuple

import grpc
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.cloud import artifactregistry_v1, iam_admin_v1
from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, empty_pb2, json_format, message, timestamp_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer

# -- constants -------------------------------------------------------------------------------

IAM_API = "iam.googleapis.com"
AR_API = "artifactregistry.googleapis.com"
IAM_CREDENTIALS_API = "iamcredentials.googleapis.com"
API_TITLES: dict[str, str] = {
    IAM_API: "Identity and Access Management (IAM) API",
    AR_API: "Artifact Registry API",
    IAM_CREDENTIALS_API: "IAM Service Account Credentials API",
}
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
UPLOAD_ARTIFACTS = "artifactregistry.repositories.uploadArtifacts"
DOWNLOAD_ARTIFACTS = "artifactregistry.repositories.downloadArtifacts"
DELETE_ARTIFACTS = "artifactregistry.repositories.deleteArtifacts"
CREATE_ON_PUSH = "artifactregistry.repositories.createOnPush"
KEY_LIMIT = 10  # user-managed keys per service account (IAM quotas page)
NEVER_EXPIRES = timestamp_pb2.Timestamp(seconds=253402300799)  # 9999-12-31T23:59:59Z
INITIAL_POLICY_ETAG = b"\x00\x20\x01"  # "ACAB", what Google returns for a never-set policy
SERVICE_ACCOUNT_ETAG = b"MDEwMjE5MjA="  # the constant (deprecated) etag Google puts on SAs
ADMIN_ROLES: tuple[str, ...] = (
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountKeyAdmin",
    "roles/artifactregistry.admin",
)

_AR = "artifactregistry.repositories."
_AR_READ = frozenset({_AR + "get", _AR + "list", DOWNLOAD_ARTIFACTS,
                      _AR + "readViaVirtualRepository"})
_AR_WRITE = _AR_READ | {UPLOAD_ARTIFACTS}
_AR_REPO_ADMIN = _AR_WRITE | {DELETE_ARTIFACTS}
_AR_ADMIN = _AR_REPO_ADMIN | {CREATE_ON_PUSH, _AR + "create", _AR + "update", _AR + "delete",
                              _AR + "getIamPolicy", _AR + "setIamPolicy"}
_SA = "iam.serviceAccounts."
_KEYS = "iam.serviceAccountKeys."
_SA_ADMIN = frozenset(_SA + verb for verb in (
    "create", "delete", "disable", "enable", "get", "list", "update", "undelete",
    "getIamPolicy", "setIamPolicy"))
_KEY_ADMIN = frozenset({_SA + "get", _SA + "list"} | {
    _KEYS + verb for verb in ("create", "delete", "disable", "enable", "get", "list")})
GET_ACCESS_TOKEN = _SA + "getAccessToken"

#: Predefined roles and the permissions this stand-in knows them by (a subset of Google's).
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/artifactregistry.reader": _AR_READ,
    "roles/artifactregistry.writer": _AR_WRITE,
    "roles/artifactregistry.createOnPushWriter": _AR_WRITE | {CREATE_ON_PUSH},
    "roles/artifactregistry.repoAdmin": _AR_REPO_ADMIN,
    "roles/artifactregistry.createOnPushRepoAdmin": _AR_REPO_ADMIN | {CREATE_ON_PUSH},
    "roles/artifactregistry.admin": _AR_ADMIN,
    "roles/iam.serviceAccountAdmin": _SA_ADMIN,
    "roles/iam.serviceAccountKeyAdmin": _KEY_ADMIN,
    "roles/iam.serviceAccountViewer": frozenset({_SA + "get", _SA + "list", _KEYS + "get",
                                                 _KEYS + "list"}),
    "roles/iam.serviceAccountUser": frozenset({_SA + "get", _SA + "list", _SA + "actAs"}),
    "roles/iam.workloadIdentityUser": frozenset({_SA + "get", _SA + "list", GET_ACCESS_TOKEN,
                                                  _SA + "getOpenIdToken"}),
    "roles/iam.serviceAccountTokenCreator": frozenset({_SA + "get", _SA + "list", GET_ACCESS_TOKEN,
                                                       _SA + "getOpenIdToken", _SA + "signBlob",
                                                       _SA + "signJwt", _SA + "implicitDelegation"}),
    "roles/owner": _AR_ADMIN | _SA_ADMIN | _KEY_ADMIN,
}
#: Calls that change state; :meth:`GoogleCloudState.writes` filters the call log by these.
WRITE_METHODS = frozenset({
    "CreateServiceAccount", "CreateServiceAccountKey", "DeleteServiceAccountKey",
    "DisableServiceAccountKey", "EnableServiceAccountKey", "CreateRepository", "SetIamPolicy",
})
#: gcr.io hosts as Artifact Registry serves them: host -> (location, repository id = host).
GCR_HOSTS: dict[str, str] = {"gcr.io": "us", "us.gcr.io": "us", "eu.gcr.io": "europe",
                             "asia.gcr.io": "asia"}

_HTTP_CODES: dict[str, int] = {
    "OK": 200, "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ALREADY_EXISTS": 409,
    "ABORTED": 409, "RESOURCE_EXHAUSTED": 429, "INTERNAL": 500, "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
}
_SA_NAME = re.compile(r"^projects/([^/]+)/serviceAccounts/([^/]+)$")
_KEY_NAME = re.compile(r"^projects/([^/]+)/serviceAccounts/([^/]+)/keys/([^/]+)$")
_ACCOUNT_ID = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")
_REPOSITORY_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def member_for(principal: str) -> str:
    """The IAM member string for a principal email (service accounts are the only principals
    that can authenticate here)."""
    if ":" in principal:
        return principal
    kind = "serviceAccount" if principal.endswith(".gserviceaccount.com") else "user"
    return f"{kind}:{principal}"


def permissions_of(roles: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for role in roles:
        out |= ROLE_PERMISSIONS.get(role, frozenset())
    return out


# -- errors ----------------------------------------------------------------------------------

class ApiError(Exception):
    """A Google API error. The gRPC server sends it as a status with ``grpc-status-details-bin``
    details, the REST server as Google's JSON error body; the clients turn either into
    ``google.api_core.exceptions``."""

    def __init__(self, status: str, message_text: str,
                 details: Iterable[message.Message] = ()) -> None:
        super().__init__(f"{status}: {message_text}")
        self.status = status
        self.message = message_text
        self.details = list(details)

    @property
    def http_code(self) -> int:
        return _HTTP_CODES.get(self.status, 500)

    def _packed(self) -> list[any_pb2.Any]:
        packed = []
        for detail in self.details:
            item = any_pb2.Any()
            item.Pack(detail)
            packed.append(item)
        return packed

    def to_status(self) -> status_pb2.Status:
        return status_pb2.Status(code=code_pb2.Code.Value(self.status), message=self.message,
                                 details=self._packed())

    def to_rest(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.http_code, "message": self.message,
                                 "status": self.status}
        if self.details:
            error["details"] = [json_format.MessageToDict(item) for item in self._packed()]
        return {"error": error}


def _error_info(reason: str, domain: str, **metadata: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata)


def unauthenticated(missing: bool) -> ApiError:
    """401: Google's texts for no credential and for a bad one."""
    what = ("Request is missing required authentication credential" if missing
            else "Request had invalid authentication credentials")
    return ApiError("UNAUTHENTICATED", (
        f"{what}. Expected OAuth 2 access token, login cookie or other valid authentication "
        "credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."),
        [_error_info("CREDENTIALS_MISSING" if missing else "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                     "googleapis.com")])


def permission_denied(permission: str, api: str, resource: str | None = None) -> ApiError:
    """403 as IAM words it (no resource: "denied on resource (or it may not exist).") and as
    Artifact Registry does (the full resource name in quotes)."""
    if resource is None:
        text = f"Permission '{permission}' denied on resource (or it may not exist)."
        metadata = {"permission": permission}
    else:
        text = (f"Permission '{permission}' denied on resource '//{api}/{resource}' "
                "(or it may not exist).")
        metadata = {"permission": permission, "resource": resource}
    return ApiError("PERMISSION_DENIED", text,
                    [_error_info("IAM_PERMISSION_DENIED", api, **metadata)])


def service_disabled(api: str, project_number: str) -> ApiError:
    """403 SERVICE_DISABLED with Google's text and ErrorInfo/LocalizedMessage/Help details."""
    url = f"https://console.developers.google.com/apis/api/{api}/overview?project={project_number}"
    title = API_TITLES.get(api, api)
    text = (f"{title} has not been used in project {project_number} before or it is disabled. "
            f"Enable it by visiting {url} then retry. If you enabled this API recently, wait a "
            "few minutes for the action to propagate to our systems and retry.")
    return ApiError("PERMISSION_DENIED", text, [
        _error_info("SERVICE_DISABLED", "googleapis.com", service=api,
                    consumer=f"projects/{project_number}", activationUrl=url, serviceTitle=title,
                    containerInfo=project_number),
        error_details_pb2.LocalizedMessage(locale="en-US", message=text),
        error_details_pb2.Help(links=[error_details_pb2.Help.Link(
            description="Google developers console API activation", url=url)]),
    ])


def injected(status: str, api: str, project_number: str) -> ApiError:
    """The 429/503 a test asked for with :meth:`GoogleCloudState.fail_next`."""
    if status == "RESOURCE_EXHAUSTED":
        return ApiError(status, (
            "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of "
            f"service '{api}' for consumer 'project_number:{project_number}'."),
            [_error_info("RATE_LIMIT_EXCEEDED", "googleapis.com", service=api,
                         consumer=f"projects/{project_number}")])
    if status == "INTERNAL":
        return ApiError(status, "Internal error encountered.")
    return ApiError(status, "The service is currently unavailable.")


class OAuthError(Exception):
    """An OAuth token-endpoint error: HTTP 400 ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


INVALID_SIGNATURE = OAuthError("invalid_grant", "Invalid JWT Signature.")


# -- state -----------------------------------------------------------------------------------

class Call(NamedTuple):
    """One entry of the call log. ``code`` is "OK" or the error status (e.g. "NOT_FOUND")."""

    service: str  # "iam" | "artifactregistry" | "oauth2" | "registry"
    method: str  # e.g. "CreateServiceAccountKey", "GetRepository", "token", "authorize"
    caller: str  # principal email, "" when unauthenticated
    resource: str  # resource name the call was about
    code: str = "OK"


@dataclass
class Project:
    project_id: str
    number: str
    enabled_apis: set[str]
    roles: dict[str, set[str]] = field(default_factory=dict)  # member -> roles
    # PROJECT.svc.id.goog exists once a GKE cluster in the project has Workload Identity
    workload_identity_pool: bool = True


@dataclass
class KeyRecord:
    """A service-account key. Like Google, only the public half is kept."""

    key_id: str
    sa_email: str
    project_id: str
    public_key: rsa.RSAPublicKey
    certificate_pem: bytes
    user_managed: bool = True
    disabled: bool = False
    valid_after: dt.datetime = field(default_factory=_now)
    unknown_for: int = 0  # authentications left that fail as if the key did not exist yet

    @property
    def name(self) -> str:
        return f"projects/{self.project_id}/serviceAccounts/{self.sa_email}/keys/{self.key_id}"


@dataclass
class ServiceAccountRecord:
    project_id: str
    account_id: str
    unique_id: str
    display_name: str = ""
    description: str = ""
    keys: dict[str, KeyRecord] = field(default_factory=dict)
    unknown_for: int = 0  # SetIamPolicy member checks left that fail as if it did not exist yet
    unknown_to_keys: int = 0  # key list/create calls left that answer NOT_FOUND (IAM reads lag too)
    unknown_to_key_creation: int = 0  # then key create calls left that still answer NOT_FOUND
    bindings: dict[str, set[str]] = field(default_factory=dict)  # the account's own IAM policy
    policy_version: int = 0
    policy_checks: int = 0  # permission evaluations against the account's own policy so far
    visible_after: dict[tuple[str, str], int] = field(default_factory=dict)  # (role, member) -> check

    @property
    def etag(self) -> bytes:
        return INITIAL_POLICY_ETAG if self.policy_version == 0 else b"BwZ" + self.policy_version.to_bytes(5, "big")

    @property
    def email(self) -> str:
        return f"{self.account_id}@{self.project_id}.iam.gserviceaccount.com"

    @property
    def name(self) -> str:
        return f"projects/{self.project_id}/serviceAccounts/{self.email}"

    def user_keys(self) -> list[KeyRecord]:
        return [key for key in self.keys.values() if key.user_managed]


@dataclass
class RepositoryRecord:
    """An Artifact Registry repository, its IAM policy and its propagation bookkeeping."""

    project_id: str
    location: str
    repository_id: str
    format: int = int(artifactregistry_v1.Repository.Format.DOCKER)
    description: str = ""
    created: dt.datetime = field(default_factory=_now)
    bindings: dict[str, set[str]] = field(default_factory=dict)  # role -> members
    policy_version: int = 0  # bumps on every SetIamPolicy; the etag encodes it
    checks: int = 0  # permission evaluations against this repository so far
    visible_after: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return (f"projects/{self.project_id}/locations/{self.location}/repositories/"
                f"{self.repository_id}")

    @property
    def etag(self) -> bytes:
        if self.policy_version == 0:
            return INITIAL_POLICY_ETAG
        return b"BwY" + self.policy_version.to_bytes(5, "big")

    @property
    def registry_uri(self) -> str:
        if self.repository_id in GCR_HOSTS:
            return f"{self.repository_id}/{self.project_id}"
        return f"{self.location}-docker.pkg.dev/{self.project_id}/{self.repository_id}"


@dataclass
class _Token:
    principal: str
    expires_at: float


@dataclass
class CallContext:
    """What a server knows about one incoming call while the service handles it."""

    service: str
    method: str
    authorization: str | None
    caller: str = ""
    resource: str = ""


class GoogleCloudState:
    """The one in-memory Google world every stand-in server reads and writes.

    Set-up helpers (``add_project``, ``add_service_account``, ``create_key``, ``grant_*``,
    ``add_repository``) are for tests and are not logged; everything a client does through a
    server is logged in :attr:`calls`. All access is under :attr:`lock`.
    """

    def __init__(self, *, propagation_checks: int = 0, key_limit: int = KEY_LIMIT) -> None:
        self.lock = threading.RLock()
        self.projects: dict[str, Project] = {}
        self.service_accounts: dict[str, ServiceAccountRecord] = {}  # by email
        self.repositories: dict[str, RepositoryRecord] = {}  # by name
        self.operations: dict[str, operations_pb2.Operation] = {}
        #: GetOperation polls a repository creation stays running for (Google's take seconds; 0:
        #: CreateRepository answers a finished operation)
        self.operation_polls = 0
        self._pending: dict[str, tuple[int, operations_pb2.Operation]] = {}
        self.calls: list[Call] = []
        #: evaluations a new repository binding stays invisible for (see module docstring)
        self.propagation_checks = propagation_checks
        #: SetIamPolicy calls an API-created service account stays unknown to (None: as above)
        self.account_propagation_checks: int | None = None
        #: key list/create calls an API-created account is NOT_FOUND to (IAM reads are eventually
        #: consistent right after CreateServiceAccount; 0 by default)
        self.account_read_checks = 0
        #: CreateServiceAccountKey calls an API-created account is NOT_FOUND to after that (key
        #: creation lagging behind the key list; 0 by default)
        self.account_key_creation_checks = 0
        #: evaluations a binding added to a service account's own policy (SetIamPolicy) stays
        #: invisible for (who may act as it: generateAccessToken, the GKE metadata server)
        self.account_binding_checks = 0
        #: authentications an API-created key is rejected by (None: propagation_checks)
        self.key_propagation_checks: int | None = None
        self.key_limit = key_limit
        #: org policy ``iam.disableServiceAccountKeyCreation`` enforced (for every project)
        self.key_creation_blocked = False
        #: written into key files; :class:`OAuthServer` sets it to its own URL when it starts
        self.token_uri = GOOGLE_TOKEN_URI
        #: the time access tokens are issued and checked against (tests move it to expire them)
        self.clock: Callable[[], float] = time.time
        #: (role, member) bindings another admin adds to a service account's own policy right
        #: after the next reads of it, one per read (a concurrent read-modify-write)
        self.concurrent_policy_changes: list[tuple[str, str]] = []
        #: the same for repositories' policies: (role, member) added right after the next reads
        self.concurrent_repository_policy_changes: list[tuple[str, str]] = []
        #: Google's clock minus this machine's (the hook's), for the keys' validAfterTime: clocks differ
        self.key_time_offset = dt.timedelta(0)
        self._keys: dict[str, KeyRecord] = {}  # by key id
        self._tokens: dict[str, _Token] = {}
        self._failures: dict[str, list[str]] = {}

    # -- set-up ------------------------------------------------------------------------------
    def add_project(self, project_id: str, number: str | None = None,
                    apis: Iterable[str] = (IAM_API, AR_API, IAM_CREDENTIALS_API)) -> Project:
        with self.lock:
            project = Project(project_id, number or str(secrets.randbelow(9 * 10**11) + 10**11),
                              set(apis))
            self.projects[project_id] = project
            return project

    def set_api_enabled(self, project_id: str, api: str, enabled: bool) -> None:
        with self.lock:
            apis = self.projects[project_id].enabled_apis
            if enabled:
                apis.add(api)
            else:
                apis.discard(api)

    def grant_project_role(self, project_id: str, principal: str, role: str) -> None:
        self._known_role(role)
        with self.lock:
            self.projects[project_id].roles.setdefault(member_for(principal), set()).add(role)

    def revoke_project_role(self, project_id: str, principal: str, role: str) -> None:
        with self.lock:
            self.projects[project_id].roles.get(member_for(principal), set()).discard(role)

    def add_service_account(self, project_id: str, account_id: str, display_name: str = "",
                            description: str = "") -> ServiceAccountRecord:
        with self.lock:
            record = ServiceAccountRecord(project_id, account_id,
                                          "1" + "".join(secrets.choice("0123456789")
                                                        for _ in range(20)),
                                          display_name, description)
            self.service_accounts[record.email] = record
            self._add_key(record, user_managed=False)  # Google always has system-managed ones
            return record

    def create_key(self, email: str) -> dict[str, str]:
        """Make a user-managed key and return the key file (as google-auth loads it)."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # ~50 ms
        with self.lock:
            record = self.service_accounts[email]
            key = self._add_key(record, user_managed=True, private=private)
            pem = private.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
            return {
                "type": "service_account",
                "project_id": record.project_id,
                "private_key_id": key.key_id,
                "private_key": pem,
                "client_email": email,
                "client_id": record.unique_id,
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": self.token_uri,
                "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                "client_x509_cert_url": ("https://www.googleapis.com/robot/v1/metadata/x509/"
                                         + urllib.parse.quote(email)),
                "universe_domain": "googleapis.com",
            }

    def add_principal(self, project_id: str, account_id: str,
                      roles: Iterable[str] = ADMIN_ROLES) -> dict[str, str]:
        """A service account with project roles and one key; returns its key file."""
        with self.lock:
            record = self.add_service_account(project_id, account_id)
            for role in roles:
                self.grant_project_role(project_id, record.email, role)
            return self.create_key(record.email)

    def add_repository(self, project_id: str, location: str, repository_id: str,
                       description: str = "") -> RepositoryRecord:
        with self.lock:
            repo = RepositoryRecord(project_id, location, repository_id, description=description)
            self.repositories[repo.name] = repo
            return repo

    def grant_repository_role(self, repository: str, principal: str, role: str,
                              effective: bool = True) -> None:
        """Add a binding directly; ``effective=False`` subjects it to propagation."""
        self._known_role(role)
        with self.lock:
            repo = self.repositories[repository]
            member = member_for(principal)
            repo.bindings.setdefault(role, set()).add(member)
            repo.visible_after[(role, member)] = (
                -1 if effective else repo.checks + self.propagation_checks)
            repo.policy_version += 1

    def fail_next(self, method: str, status: str = "UNAVAILABLE", times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` (an RPC name such as "GetRepository" or
        "CreateServiceAccountKey", or "token" for the OAuth endpoint) with RESOURCE_EXHAUSTED
        (HTTP 429), UNAVAILABLE (HTTP 503) or INTERNAL (HTTP 500, Google's "Internal error
        encountered."). Checked after authentication."""
        if status not in ("RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL"):
            raise ValueError(f"unsupported injected status {status}")
        with self.lock:
            self._failures.setdefault(method, []).extend([status] * times)

    def take_failure(self, method: str, api: str, project_number: str) -> ApiError | None:
        """The next failure :meth:`fail_next` queued for ``method``, if any (call with ``lock`` held)."""
        pending = self._failures.get(method)
        return injected(pending.pop(0), api, project_number) if pending else None

    # -- call log ----------------------------------------------------------------------------
    def record(self, call: CallContext, code: str) -> None:
        with self.lock:
            self.calls.append(Call(call.service, call.method, call.caller, call.resource, code))

    def writes(self, include_failed: bool = True) -> list[Call]:
        """Logged calls that change (or tried to change) state."""
        with self.lock:
            return [c for c in self.calls
                    if c.method in WRITE_METHODS and (include_failed or c.code == "OK")]

    def calls_of(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    # -- keys and tokens ---------------------------------------------------------------------
    def key(self, key_id: str) -> KeyRecord | None:
        with self.lock:
            return self._keys.get(key_id)

    def active_key(self, key_id: str | None) -> KeyRecord | None:
        """A user-managed key that still exists, is enabled and whose account exists."""
        with self.lock:
            key = self._keys.get(key_id or "")
            if key is None or key.disabled or not key.user_managed:
                return None
            record = self.service_accounts.get(key.sa_email)
            if record is None or key.key_id not in record.keys:
                return None
            if key.unknown_for > 0:  # a new key that has not propagated yet
                key.unknown_for -= 1
                return None
            return key

    def mint_token(self, assertion: str) -> tuple[str, str, int]:
        """Check a JWT-bearer grant like Google's token endpoint does; returns
        (access token, principal, expires_in) or raises :class:`OAuthError`."""
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from exc
        key = self.active_key(header.get("kid"))
        if key is None:
            raise INVALID_SIGNATURE
        try:
            claims = jwt.decode(assertion, key.public_key, algorithms=["RS256"],
                                audience=[GOOGLE_TOKEN_URI, self.token_uri],
                                options={"require": ["exp", "iat", "iss", "aud"]})
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as exc:
            raise _SHORT_LIVED from exc
        except jwt.InvalidAudienceError as exc:
            # GUESS: wording not found in public errors; the error code is right.
            raise OAuthError("invalid_grant", "Invalid JWT: Failed audience check.") from exc
        except jwt.PyJWTError as exc:
            raise INVALID_SIGNATURE from exc
        if claims["iss"] != key.sa_email:
            raise INVALID_SIGNATURE
        if int(claims["exp"]) - int(claims["iat"]) > 3600:
            raise _SHORT_LIVED
        if claims.get("target_audience"):
            raise OAuthError("invalid_request", "The stand-in does not issue ID tokens.")
        if not claims.get("scope"):
            raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token, _ = self.issue_token(key.sa_email, 3599)
        return token, key.sa_email, 3599

    def issue_token(self, principal: str, lifetime: float) -> tuple[str, float]:
        """A new access token for ``principal`` (an e-mail, or a member such as a Workload
        Identity one); returns it and when it expires."""
        token = "ya29.stand-in." + secrets.token_urlsafe(32)
        with self.lock:
            expires_at = self.clock() + lifetime
            self._tokens[token] = _Token(principal, expires_at)
        return token, expires_at

    def authenticate(self, authorization: str | None) -> str:
        """The principal behind an ``Authorization: Bearer`` value: an access token minted by
        :class:`OAuthServer`, or a self-signed JWT (what the GAPIC clients send for service
        account credentials) signed by an active key. Raises UNAUTHENTICATED."""
        if not authorization:
            raise unauthenticated(missing=True)
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise unauthenticated(missing=False)
        with self.lock:
            token = self._tokens.get(value)
        if token is not None and token.expires_at > self.clock():
            return token.principal
        principal = self._self_signed_principal(value)
        if principal is None:
            raise unauthenticated(missing=False)
        return principal

    def principal_for_key_file(self, info: Mapping[str, Any]) -> str | None:
        """The service account a key file authenticates, if its key is still active and the
        private key really is the one IAM issued."""
        if info.get("type") != "service_account":
            return None
        key = self.active_key(str(info.get("private_key_id", "")))
        if key is None or key.sa_email != info.get("client_email"):
            return None
        if "private_key" not in info:
            return None
        presented = _rsa_public_numbers(str(info["private_key"]))
        if presented is None or presented != key.public_key.public_numbers():
            return None
        return key.sa_email

    # -- permissions -------------------------------------------------------------------------
    def project_permissions(self, project_id: str, principal: str) -> set[str]:
        with self.lock:
            project = self.projects.get(project_id)
            if project is None:
                return set()
            return permissions_of(project.roles.get(member_for(principal), set()))

    def repository_permissions(self, repo: RepositoryRecord, principal: str) -> set[str]:
        """Permissions from the repository's policy that are EFFECTIVE now. Counts as one
        propagation check against the repository."""
        member = member_for(principal)
        with self.lock:
            repo.checks += 1
            roles = {role for role, members in repo.bindings.items()
                     if member in members and repo.visible_after.get((role, member), -1)
                     < repo.checks}
            return permissions_of(roles)

    def service_account_permissions(self, record: ServiceAccountRecord, principal: str) -> set[str]:
        """Project roles plus the roles the account's own policy grants ``principal``."""
        member = member_for(principal)
        with self.lock:
            record.policy_checks += 1
            roles = {role for role, members in record.bindings.items() if member in members
                     and record.visible_after.get((role, member), -1) < record.policy_checks}
        return self.project_permissions(record.project_id, principal) | permissions_of(roles)

    def effective_permissions(self, principal: str, project_id: str,
                              repo: RepositoryRecord | None) -> set[str]:
        """Project roles plus effective repository roles (one propagation check)."""
        perms = self.project_permissions(project_id, principal)
        if repo is not None:
            perms |= self.repository_permissions(repo, principal)
        return perms

    def require(self, principal: str, permission: str, project_id: str, api: str,
                repo: RepositoryRecord | None = None, resource: str | None = None) -> None:
        """Raise PERMISSION_DENIED unless ``principal`` holds ``permission``; the repository
        policy is only consulted (and counted) when project roles do not suffice."""
        if permission in self.project_permissions(project_id, principal):
            return
        if repo is not None and permission in self.repository_permissions(repo, principal):
            return
        raise permission_denied(permission, api, resource)

    def open_call(self, call: CallContext, *, resource: str, project_id: str, api: str) -> str:
        """Authenticate, apply injected failures, check the API is enabled; returns the
        principal. The caller and resource land in the call log."""
        call.resource = resource
        principal = self.authenticate(call.authorization)
        call.caller = principal
        with self.lock:
            project = self.projects.get(project_id)
            number = project.number if project else "0"
            pending = self._failures.get(call.method)
            if pending:
                raise injected(pending.pop(0), api, number)
            if project is not None and api not in project.enabled_apis:
                raise service_disabled(api, project.number)
        return principal

    def account_delay(self) -> int:
        with self.lock:
            return (self.propagation_checks if self.account_propagation_checks is None
                    else self.account_propagation_checks)

    def key_delay(self) -> int:
        with self.lock:
            return (self.propagation_checks if self.key_propagation_checks is None
                    else self.key_propagation_checks)

    def known_account(self, email: str) -> ServiceAccountRecord | None:
        """The account as IAM policy validation sees it: None while a new one has not
        propagated (each call is one check)."""
        with self.lock:
            record = self.service_accounts.get(email)
            if record is not None and record.unknown_for > 0:
                record.unknown_for -= 1
                return None
            return record

    # -- internals ---------------------------------------------------------------------------
    @staticmethod
    def _known_role(role: str) -> None:
        if role not in ROLE_PERMISSIONS:
            raise ValueError(f"the stand-in does not know role {role}")

    def _add_key(self, record: ServiceAccountRecord, *, user_managed: bool,
                 private: rsa.RSAPrivateKey | None = None) -> KeyRecord:
        if private is None:  # system-managed: the private half is never used, so share one
            private = _system_managed_private_key()
        key_id = secrets.token_hex(20)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, key_id)])
        now = _now()
        certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                       .public_key(private.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now).not_valid_after(dt.datetime(9999, 12, 31, 23, 59, 59,
                                                                          tzinfo=dt.UTC))
                       .sign(private, hashes.SHA256()))
        key = KeyRecord(key_id, record.email, record.project_id, private.public_key(),
                        certificate.public_bytes(serialization.Encoding.PEM), user_managed,
                        valid_after=now + self.key_time_offset)
        record.keys[key_id] = key
        self._keys[key_id] = key
        return key

    def _self_signed_principal(self, value: str) -> str | None:
        try:
            header = jwt.get_unverified_header(value)
        except jwt.PyJWTError:
            return None
        key = self.active_key(header.get("kid"))
        if key is None:
            return None
        try:
            claims = jwt.decode(value, key.public_key, algorithms=["RS256"],
                                options={"verify_aud": False, "require": ["exp", "iat", "iss"]})
        except jwt.PyJWTError:
            return None
        if claims["iss"] != key.sa_email or claims.get("sub", key.sa_email) != key.sa_email:
            return None
        if not (claims.get("aud") or claims.get("scope")):
            return None
        if int(claims["exp"]) - int(claims["iat"]) > 3600:
            return None
        return key.sa_email


def _account_policy(record: ServiceAccountRecord) -> policy_pb2.Policy:
    return policy_pb2.Policy(version=1, etag=record.etag, bindings=[
        policy_pb2.Binding(role=role, members=sorted(members))
        for role, members in sorted(record.bindings.items()) if members])


@functools.lru_cache(maxsize=256)
def _rsa_public_numbers(private_pem: str) -> rsa.RSAPublicNumbers | None:
    """The public numbers of the RSA private key ``private_pem``, or None if it is none. Loading
    validates the key (~40 ms of CPU, which benchmarks would count as the hook's), so the answer
    is kept per exact PEM text: the same text always gives the same answer."""
    try:
        private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    except (ValueError, TypeError):
        return None
    return private.public_key().public_numbers() if isinstance(private, rsa.RSAPrivateKey) else None


@functools.cache
def _system_managed_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_SHORT_LIVED = OAuthError("invalid_grant", (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."))


# -- IAM Admin (transport-agnostic) ----------------------------------------------------------

class IamAdminService:
    """``google.iam.admin.v1.IAM`` methods on proto-plus messages; :class:`IamGrpcServer`
    carries them over gRPC. Order of checks as Google: authentication, API enabled, permission
    on the project that owns the account, existence, then the method's own rules."""

    def __init__(self, state: GoogleCloudState) -> None:
        self.state = state

    # -- helpers -----------------------------------------------------------------------------
    def _account(self, call: CallContext, project: str, account: str, permission: str,
                 resource: str) -> tuple[str, ServiceAccountRecord]:
        state = self.state
        record = next((r for r in state.service_accounts.values()
                       if account in (r.email, r.unique_id)), None)
        if record is not None and project not in ("-", record.project_id):
            record = None
        if project != "-":
            owner = project
        elif record is not None:
            owner = record.project_id
        else:
            owner = account.partition("@")[2].split(".")[0]
        principal = state.open_call(call, resource=resource, project_id=owner, api=IAM_API)
        if record is None and project == "-":
            # Google: with the '-' wildcard a missing account answers 403, not 404
            raise permission_denied(permission, IAM_API)
        state.require(principal, permission, owner, IAM_API)
        if record is None:
            raise ApiError("NOT_FOUND", f"Service account {resource} does not exist.")
        return principal, record

    @staticmethod
    def _lagging_read(record: ServiceAccountRecord, resource: str) -> None:
        """A new account IAM's key calls do not see yet (see GoogleCloudState.account_read_checks)."""
        if record.unknown_to_keys > 0:
            record.unknown_to_keys -= 1
            raise ApiError("NOT_FOUND", f"Service account {resource} does not exist.")

    def _key(self, call: CallContext, name: str, permission: str) -> KeyRecord:
        match = _KEY_NAME.match(name)
        if match is None:
            raise ApiError("INVALID_ARGUMENT", f"Invalid resource name: {name}")  # GUESS
        project, account, key_id = match.groups()
        _, record = self._account(call, project, account, permission, name)
        key = record.keys.get(key_id)
        if key is None:
            raise ApiError("NOT_FOUND", f"Service account key {key_id} does not exist.")
        return key

    @staticmethod
    def _sa_message(record: ServiceAccountRecord) -> iam_admin_v1.ServiceAccount:
        return iam_admin_v1.ServiceAccount(
            name=record.name, project_id=record.project_id, unique_id=record.unique_id,
            email=record.email, display_name=record.display_name,
            description=record.description, oauth2_client_id=record.unique_id,
            etag=SERVICE_ACCOUNT_ETAG)

    @staticmethod
    def _key_message(key: KeyRecord, public_key_type: int = 0) -> iam_admin_v1.ServiceAccountKey:
        msg = iam_admin_v1.ServiceAccountKey(
            name=key.name,
            key_algorithm=iam_admin_v1.ServiceAccountKeyAlgorithm.KEY_ALG_RSA_2048,
            valid_after_time=_timestamp(key.valid_after), valid_before_time=NEVER_EXPIRES,
            key_origin=iam_admin_v1.ServiceAccountKeyOrigin.GOOGLE_PROVIDED,
            key_type=(iam_admin_v1.ListServiceAccountKeysRequest.KeyType.USER_MANAGED
                      if key.user_managed
                      else iam_admin_v1.ListServiceAccountKeysRequest.KeyType.SYSTEM_MANAGED),
            disabled=key.disabled)
        if public_key_type == iam_admin_v1.ServiceAccountPublicKeyType.TYPE_X509_PEM_FILE:
            msg.public_key_data = key.certificate_pem
        elif public_key_type == iam_admin_v1.ServiceAccountPublicKeyType.TYPE_RAW_PUBLIC_KEY:
            msg.public_key_data = key.public_key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return msg

    # -- methods -----------------------------------------------------------------------------
    def CreateServiceAccount(self, call: CallContext,  # noqa: N802 - RPC names
                             req: iam_admin_v1.CreateServiceAccountRequest,
                             ) -> iam_admin_v1.ServiceAccount:
        state = self.state
        project_id = req.name.removeprefix("projects/")
        with state.lock:
            principal = state.open_call(call, resource=req.name, project_id=project_id,
                                        api=IAM_API)
            state.require(principal, _SA + "create", project_id, IAM_API)
            if not (6 <= len(req.account_id) <= 30 and _ACCOUNT_ID.match(req.account_id)):
                raise ApiError("INVALID_ARGUMENT", (  # GUESS: close to Google's wording
                    f"Invalid form of account ID {req.account_id}. Should be "
                    "[Regex: [a-z]([-a-z0-9]*[a-z0-9]) with 6-30 characters]."))
            email = f"{req.account_id}@{project_id}.iam.gserviceaccount.com"
            call.resource = f"projects/{project_id}/serviceAccounts/{email}"
            if email in state.service_accounts:
                raise ApiError("ALREADY_EXISTS", (
                    f"Service account {req.account_id} already exists within project "
                    f"projects/{project_id}."),
                    [error_details_pb2.ResourceInfo(resource_name=call.resource)])
            record = state.add_service_account(project_id, req.account_id,
                                               req.service_account.display_name,
                                               req.service_account.description)
            record.unknown_for = state.account_delay()
            record.unknown_to_keys = state.account_read_checks
            record.unknown_to_key_creation = state.account_key_creation_checks
            return self._sa_message(record)

    def GetServiceAccount(self, call: CallContext,  # noqa: N802
                          req: iam_admin_v1.GetServiceAccountRequest,
                          ) -> iam_admin_v1.ServiceAccount:
        match = _SA_NAME.match(req.name)
        if match is None:
            raise ApiError("INVALID_ARGUMENT", f"Invalid resource name: {req.name}")  # GUESS
        with self.state.lock:
            project, account = match.groups()
            _, record = self._account(call, project, account, _SA + "get", req.name)
            return self._sa_message(record)

    def ListServiceAccountKeys(self, call: CallContext,  # noqa: N802
                               req: iam_admin_v1.ListServiceAccountKeysRequest,
                               ) -> iam_admin_v1.ListServiceAccountKeysResponse:
        key_type = iam_admin_v1.ListServiceAccountKeysRequest.KeyType
        match = _SA_NAME.match(req.name)
        if match is None:
            raise ApiError("INVALID_ARGUMENT", f"Invalid resource name: {req.name}")  # GUESS
        with self.state.lock:
            project, account = match.groups()
            _, record = self._account(call, project, account, _KEYS + "list", req.name)
            self._lagging_read(record, req.name)
            wanted = list(req.key_types)
            if key_type.KEY_TYPE_UNSPECIFIED in wanted or len(set(wanted)) != len(wanted):
                raise ApiError("INVALID_ARGUMENT", "Invalid key_types.")  # GUESS
            keys = [k for k in record.keys.values()
                    if not wanted
                    or (key_type.USER_MANAGED if k.user_managed else key_type.SYSTEM_MANAGED)
                    in wanted]
            return iam_admin_v1.ListServiceAccountKeysResponse(
                keys=[self._key_message(k) for k in keys])

    def GetServiceAccountKey(self, call: CallContext,  # noqa: N802
                             req: iam_admin_v1.GetServiceAccountKeyRequest,
                             ) -> iam_admin_v1.ServiceAccountKey:
        with self.state.lock:
            key = self._key(call, req.name, _KEYS + "get")
            return self._key_message(key, int(req.public_key_type))

    def CreateServiceAccountKey(self, call: CallContext,  # noqa: N802
                                req: iam_admin_v1.CreateServiceAccountKeyRequest,
                                ) -> iam_admin_v1.ServiceAccountKey:
        state = self.state
        match = _SA_NAME.match(req.name)
        if match is None:
            raise ApiError("INVALID_ARGUMENT", f"Invalid resource name: {req.name}")  # GUESS
        with state.lock:
            project, account = match.groups()
            _, record = self._account(call, project, account, _KEYS + "create", req.name)
            self._lagging_read(record, req.name)
            if record.unknown_to_key_creation > 0:  # see GoogleCloudState.account_key_creation_checks
                record.unknown_to_key_creation -= 1
                raise ApiError("NOT_FOUND", f"Service account {req.name} does not exist.")
            key_types = iam_admin_v1.ServiceAccountPrivateKeyType
            if req.private_key_type == key_types.TYPE_PKCS12_FILE or req.key_algorithm \
                    == iam_admin_v1.ServiceAccountKeyAlgorithm.KEY_ALG_RSA_1024:
                # simpler than Google, which supports both
                raise ApiError("INVALID_ARGUMENT",
                               "The stand-in only makes RSA-2048 JSON key files.")
            if state.key_creation_blocked:
                text = "Key creation is not allowed on this service account."
                quoted = urllib.parse.quote(record.email, safe="")
                raise ApiError("FAILED_PRECONDITION", text, [
                    error_details_pb2.PreconditionFailure(violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type="constraints/iam.disableServiceAccountKeyCreation",
                            subject=f"{record.name}?configvalue={quoted}",
                            description=text)])])
            if len(record.user_keys()) >= state.key_limit:
                # What IAM answers today at the 10-key cap (it used to be RESOURCE_EXHAUSTED
                # "Maximum number of keys on account reached.").
                raise ApiError("FAILED_PRECONDITION", "Precondition check failed.")
            key_file = state.create_key(record.email)
            key = state._keys[key_file["private_key_id"]]
            key.unknown_for = state.key_delay()
            call.resource = key.name
            msg = self._key_message(key)
            msg.private_key_type = key_types.TYPE_GOOGLE_CREDENTIALS_FILE  # type: ignore[assignment]
            msg.private_key_data = json.dumps(key_file, indent=2).encode()
            return msg

    def DeleteServiceAccountKey(self, call: CallContext,  # noqa: N802
                                req: iam_admin_v1.DeleteServiceAccountKeyRequest,
                                ) -> empty_pb2.Empty:
        with self.state.lock:
            key = self._key(call, req.name, _KEYS + "delete")
            if not key.user_managed:
                # GUESS: the exact text for deleting a Google-managed key was not found
                raise ApiError("FAILED_PRECONDITION", "System-managed keys cannot be deleted.")
            del self.state.service_accounts[key.sa_email].keys[key.key_id]
            return empty_pb2.Empty()

    def DisableServiceAccountKey(self, call: CallContext,  # noqa: N802
                                 req: iam_admin_v1.DisableServiceAccountKeyRequest,
                                 ) -> empty_pb2.Empty:
        with self.state.lock:
            self._key(call, req.name, _KEYS + "disable").disabled = True
            return empty_pb2.Empty()

    def GetIamPolicy(self, call: CallContext,  # noqa: N802
                     req: iam_policy_pb2.GetIamPolicyRequest) -> policy_pb2.Policy:
        """The account's own policy (who may act as it). Then a change someone else makes, when a
        test queued one (``concurrent_policy_changes``): the reader's etag is stale at once."""
        with self.state.lock:
            _, record = self._account_by_name(call, req.resource, _SA + "getIamPolicy")
            policy = _account_policy(record)
            if self.state.concurrent_policy_changes:
                role, member = self.state.concurrent_policy_changes.pop(0)
                record.bindings.setdefault(role, set()).add(member)
                record.policy_version += 1
            return policy

    def SetIamPolicy(self, call: CallContext,  # noqa: N802
                     req: iam_policy_pb2.SetIamPolicyRequest) -> policy_pb2.Policy:
        """Replace the account's policy: etag checked like Google, IAM roles only, members that
        exist (a Workload Identity member needs its project's pool, i.e. a GKE cluster with
        Workload Identity). Bindings take effect at once (Google: within minutes)."""
        state = self.state
        with state.lock:
            _, record = self._account_by_name(call, req.resource, _SA + "setIamPolicy")
            if req.policy.etag and req.policy.etag != record.etag:
                raise ApiError("ABORTED", (
                    "There were concurrent policy changes. Please retry the whole "
                    "read-modify-write with exponential backoff."))
            bindings: dict[str, set[str]] = {}
            for binding in req.policy.bindings:
                if not binding.role.startswith("roles/iam.") or binding.role not in ROLE_PERMISSIONS:
                    raise ApiError("INVALID_ARGUMENT",
                                   f"Role {binding.role} is not supported for this resource.")
                for member in binding.members:
                    self._check_member(member)
                bindings.setdefault(binding.role, set()).update(binding.members)
            for role, members in bindings.items():
                for member in members - record.bindings.get(role, set()):
                    record.visible_after[(role, member)] = record.policy_checks + state.account_binding_checks
            record.bindings = bindings
            record.policy_version += 1
            return _account_policy(record)

    def _account_by_name(self, call: CallContext, resource: str,
                         permission: str) -> tuple[str, ServiceAccountRecord]:
        match = _SA_NAME.match(resource)
        if match is None:
            raise ApiError("INVALID_ARGUMENT", f"Invalid resource name: {resource}")  # GUESS
        return self._account(call, match.group(1), match.group(2), permission, resource)

    def _check_member(self, member: str) -> None:
        kind, _, identity = member.partition(":")
        pool = re.fullmatch(r"([a-z][-a-z0-9]*)\.svc\.id\.goog\[[^/\]]+/[^/\]]+\]", identity)
        if kind == "serviceAccount" and pool:
            project = self.state.projects.get(pool.group(1))
            if project is None or not project.workload_identity_pool:
                raise ApiError("INVALID_ARGUMENT", (
                    f"Identity Pool does not exist ({pool.group(1)}.svc.id.goog). Please check that "
                    "you specified a valid resource name as returned in the `name` attribute in "
                    "the configuration API."))
        elif kind == "serviceAccount" and self.state.known_account(identity) is None:
            raise ApiError("INVALID_ARGUMENT", f"Service account {identity} does not exist.")

    def EnableServiceAccountKey(self, call: CallContext,  # noqa: N802
                                req: iam_admin_v1.EnableServiceAccountKeyRequest,
                                ) -> empty_pb2.Empty:
        with self.state.lock:
            self._key(call, req.name, _KEYS + "enable").disabled = False
            return empty_pb2.Empty()


# -- Artifact Registry (transport-agnostic) --------------------------------------------------

class ArtifactRegistryService:
    """The Artifact Registry methods the hook uses, on JSON in and JSON out as the REST API
    speaks it (request bodies parsed with the real message types)."""

    def __init__(self, state: GoogleCloudState) -> None:
        self.state = state

    def _open(self, call: CallContext, project: str, resource: str) -> str:
        return self.state.open_call(call, resource=resource, project_id=project, api=AR_API)

    def _existing(self, call: CallContext, project: str, location: str, repository: str,
                  permission: str) -> tuple[str, RepositoryRecord]:
        state = self.state
        name = f"projects/{project}/locations/{location}/repositories/{repository}"
        principal = self._open(call, project, name)
        repo = state.repositories.get(name)
        state.require(principal, permission, project, AR_API, repo, name)
        if repo is None:
            raise ApiError("NOT_FOUND", "Requested entity was not found.")
        return principal, repo

    @staticmethod
    def repository_message(repo: RepositoryRecord) -> Any:
        """The repository as the raw ``google.devtools.artifactregistry.v1.Repository``."""
        return artifactregistry_v1.Repository.pb(artifactregistry_v1.Repository(
            name=repo.name, format_=repo.format, description=repo.description,
            mode=artifactregistry_v1.Repository.Mode.STANDARD_REPOSITORY,
            create_time=_timestamp(repo.created), update_time=_timestamp(repo.created),
            registry_uri=repo.registry_uri))

    def repository_json(self, repo: RepositoryRecord) -> dict[str, Any]:
        return json_format.MessageToDict(self.repository_message(repo))

    @staticmethod
    def _policy(repo: RepositoryRecord) -> policy_pb2.Policy:
        return policy_pb2.Policy(version=1, etag=repo.etag, bindings=[
            policy_pb2.Binding(role=role, members=sorted(members))
            for role, members in sorted(repo.bindings.items()) if members])

    def GetRepository(self, call: CallContext, project: str, location: str,  # noqa: N802
                      repository: str) -> dict[str, Any]:
        with self.state.lock:
            _, repo = self._existing(call, project, location, repository, _AR + "get")
            return self.repository_json(repo)

    def CreateRepository(self, call: CallContext, project: str, location: str,  # noqa: N802
                         repository_id: str, body: bytes) -> dict[str, Any]:
        state = self.state
        parent = f"projects/{project}/locations/{location}"
        with state.lock:
            principal = self._open(call, project, parent)
            state.require(principal, _AR + "create", project, AR_API, resource=parent)
            wanted = artifactregistry_v1.Repository.from_json(body or b"{}",
                                                              ignore_unknown_fields=True)
            gcr_location = GCR_HOSTS.get(repository_id)
            if gcr_location is None and not _REPOSITORY_ID.match(repository_id):
                raise ApiError("INVALID_ARGUMENT", (  # GUESS
                    f"Invalid repository ID \"{repository_id}\": must start with a letter, end "
                    "with a letter or number and contain only lowercase letters, numbers and "
                    "hyphens."))
            if gcr_location is not None and gcr_location != location:
                raise ApiError("INVALID_ARGUMENT",  # GUESS
                               f"Repository {repository_id} must be in location {gcr_location}.")
            name = f"{parent}/repositories/{repository_id}"
            call.resource = name
            if name in state.repositories:  # text as we remember gcloud printing it
                raise ApiError("ALREADY_EXISTS", "the repository already exists")
            repo = state.add_repository(project, location, repository_id, wanted.description)
            repo.format = int(wanted.format_) or repo.format
            response = any_pb2.Any()
            response.Pack(self.repository_message(repo))
            metadata = any_pb2.Any()
            metadata.Pack(artifactregistry_v1.OperationMetadata.pb(
                artifactregistry_v1.OperationMetadata()))
            operation = operations_pb2.Operation(name=f"{parent}/operations/{uuid.uuid4()}",
                                                 done=True, response=response, metadata=metadata)
            state.operations[operation.name] = operation
            if state.operation_polls:
                state._pending[operation.name] = (state.operation_polls, operation)
                return json_format.MessageToDict(operations_pb2.Operation(
                    name=operation.name, done=False, metadata=metadata))
            return json_format.MessageToDict(operation)

    def GetOperation(self, call: CallContext, project: str, location: str,  # noqa: N802
                     operation_id: str) -> dict[str, Any]:
        # simpler than Google: any authenticated caller may read an operation of the project
        name = f"projects/{project}/locations/{location}/operations/{operation_id}"
        with self.state.lock:
            self._open(call, project, name)
            operation = self.state.operations.get(name)
            if operation is None:
                raise ApiError("NOT_FOUND", "Requested entity was not found.")
            polls, finished = self.state._pending.pop(name, (0, operation))
            if polls > 1:
                self.state._pending[name] = (polls - 1, finished)
                return json_format.MessageToDict(operations_pb2.Operation(
                    name=name, done=False, metadata=finished.metadata))
            return json_format.MessageToDict(operation)

    def GetIamPolicy(self, call: CallContext, project: str, location: str,  # noqa: N802
                     repository: str) -> dict[str, Any]:
        """The repository's policy; then a change another admin makes, when a test queued one
        (``concurrent_repository_policy_changes``): the reader's etag is stale at once."""
        with self.state.lock:
            _, repo = self._existing(call, project, location, repository, _AR + "getIamPolicy")
            policy = json_format.MessageToDict(self._policy(repo))
            if self.state.concurrent_repository_policy_changes:
                role, member = self.state.concurrent_repository_policy_changes.pop(0)
                repo.bindings.setdefault(role, set()).add(member)
                repo.policy_version += 1
            return policy

    def SetIamPolicy(self, call: CallContext, project: str, location: str,  # noqa: N802
                     repository: str, body: bytes) -> dict[str, Any]:
        state = self.state
        with state.lock:
            _, repo = self._existing(call, project, location, repository, _AR + "setIamPolicy")
            request = json_format.Parse(body or b"{}", iam_policy_pb2.SetIamPolicyRequest(),
                                        ignore_unknown_fields=True)
            policy = request.policy
            if policy.etag and policy.etag != repo.etag:
                raise ApiError("ABORTED", (
                    "There were concurrent policy changes. Please retry the whole "
                    "read-modify-write with exponential backoff."))
            bindings: dict[str, set[str]] = {}
            for binding in policy.bindings:
                if not binding.role.startswith("roles/artifactregistry.") \
                        or binding.role not in ROLE_PERMISSIONS:
                    raise ApiError("INVALID_ARGUMENT",
                                   f"Role {binding.role} is not supported for this resource.")
                for member in binding.members:
                    kind, _, email = member.partition(":")
                    if kind == "serviceAccount" and state.known_account(email) is None:
                        raise ApiError("INVALID_ARGUMENT",
                                       f"Service account {email} does not exist.")
                bindings.setdefault(binding.role, set()).update(binding.members)
            for role, members in bindings.items():
                for member in members:
                    if member not in repo.bindings.get(role, set()):
                        repo.visible_after[(role, member)] = (
                            repo.checks + state.propagation_checks)
            repo.visible_after = {pair: after for pair, after in repo.visible_after.items()
                                  if pair[1] in bindings.get(pair[0], set())}
            repo.bindings = bindings
            repo.policy_version += 1
            return json_format.MessageToDict(self._policy(repo))

    def TestIamPermissions(self, call: CallContext, project: str, location: str,  # noqa: N802
                           repository: str, body: bytes) -> dict[str, Any]:
        state = self.state
        name = f"projects/{project}/locations/{location}/repositories/{repository}"
        with state.lock:
            principal = self._open(call, project, name)
            request = json_format.Parse(body or b"{}", iam_policy_pb2.TestIamPermissionsRequest(),
                                        ignore_unknown_fields=True)
            repo = state.repositories.get(name)
            # iam_policy.proto: a missing resource yields an empty set, not NOT_FOUND
            held = state.effective_permissions(principal, project, repo) if repo else set()
            granted = [p for p in request.permissions if p in held]
            return json_format.MessageToDict(
                iam_policy_pb2.TestIamPermissionsResponse(permissions=granted))


# -- servers ---------------------------------------------------------------------------------

class _DispatchHandler(LoopbackHandler):
    owner: _LoopbackHttpServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.owner.dispatch(self.command, self.path, self.headers, body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815


class _LoopbackHttpServer(LoopbackHttpServer):
    """A :class:`~tests.stand_ins.loopback.LoopbackHttpServer` that hands each request to
    :meth:`dispatch`. Use as a context manager or call ``start()`` / ``stop()``."""

    request_handler = _DispatchHandler

    def __init__(self, state: GoogleCloudState) -> None:
        super().__init__()
        self.state = state

    def dispatch(self, method: str, path: str, headers: Message,
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError


def _json_reply(status: int, body: Mapping[str, Any],
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, headers or {}, json.dumps(body).encode()


class OAuthServer(_LoopbackHttpServer):
    """Google's OAuth 2.0 token endpoint (``POST /token``) for the JWT-bearer grant that
    ``google.oauth2.service_account.Credentials.refresh`` sends. Starting it points
    ``state.token_uri`` (and so every key file made afterwards) at it."""

    def start(self) -> OAuthServer:
        super().start()
        self.state.token_uri = self.token_uri
        return self

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def dispatch(self, method: str, path: str, headers: Message,
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        if method != "POST" or urllib.parse.urlsplit(path).path != "/token":
            return _json_reply(404, {"error": "not_found"})
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        call = CallContext("oauth2", "token", None)
        try:
            grant = form.get("grant_type", [""])[0]
            if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant}")
            assertion = form.get("assertion", [""])[0]
            with self.state.lock:
                pending = self.state._failures.get("token")
                if pending:  # NB google-auth retries these itself, sleeping ~1 s between tries
                    raise OAuthError("rate_limit_exceeded" if pending.pop(0) ==
                                     "RESOURCE_EXHAUSTED" else "temporarily_unavailable",
                                     "injected failure")
            try:
                kid = jwt.get_unverified_header(assertion).get("kid", "")
                key = self.state.key(kid)
                if key is not None:
                    call.caller, call.resource = key.sa_email, key.name
            except jwt.PyJWTError:
                pass
            token, principal, expires_in = self.state.mint_token(assertion)
        except OAuthError as err:
            self.state.record(call, err.error)
            status = {"temporarily_unavailable": 503, "rate_limit_exceeded": 429}.get(
                err.error, 400)
            return _json_reply(status, {"error": err.error, "error_description": err.description})
        call.caller = principal
        self.state.record(call, "OK")
        return _json_reply(200, {"access_token": token, "expires_in": expires_in,
                                 "token_type": "Bearer"})


_P = r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
_AR_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(rf"^/v1/{_P}/repositories/(?P<repository>[^/:]+)$"), "GetRepository"),
    ("POST", re.compile(rf"^/v1/{_P}/repositories$"), "CreateRepository"),
    ("GET", re.compile(rf"^/v1/{_P}/repositories/(?P<repository>[^/:]+):getIamPolicy$"),
     "GetIamPolicy"),
    ("POST", re.compile(rf"^/v1/{_P}/repositories/(?P<repository>[^/:]+):setIamPolicy$"),
     "SetIamPolicy"),
    ("POST", re.compile(rf"^/v1/{_P}/repositories/(?P<repository>[^/:]+):testIamPermissions$"),
     "TestIamPermissions"),
    ("GET", re.compile(rf"^/v1/{_P}/operations/(?P<operation_id>[^/]+)$"), "GetOperation"),
]


class ArtifactRegistryRestServer(_LoopbackHttpServer):
    """Artifact Registry's REST API as ``ArtifactRegistryClient(transport="rest")`` calls it
    (``client_options={"api_endpoint": server.url}``)."""

    def __init__(self, state: GoogleCloudState) -> None:
        super().__init__(state)
        self.service = ArtifactRegistryService(state)

    def dispatch(self, method: str, path: str, headers: Message,
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urllib.parse.urlsplit(path)
        route_path = urllib.parse.unquote(parts.path)
        query = urllib.parse.parse_qs(parts.query)
        for verb, pattern, name in _AR_ROUTES:  # noqa: B007 - name is used after the loop
            match = pattern.match(route_path)
            if match and verb == method:
                break
        else:
            return _json_reply(404, ApiError("NOT_FOUND", "Method not found.").to_rest())
        call = CallContext("artifactregistry", name, headers.get("Authorization"))
        args: dict[str, Any] = dict(match.groupdict())
        if name == "CreateRepository":
            args["repository_id"] = query.get("repositoryId", [""])[0]
        if name in ("CreateRepository", "SetIamPolicy", "TestIamPermissions"):
            args["body"] = body
        return _rest_answer(self.state, call, lambda: getattr(self.service, name)(call, **args))


def _rest_answer(state: GoogleCloudState, call: CallContext,
                 run: Callable[[], Mapping[str, Any]]) -> tuple[int, dict[str, str], bytes]:
    """``run``'s JSON, or its ApiError as Google's REST error body; logged either way."""
    try:
        result = run()
    except ApiError as err:
        state.record(call, err.status)
        extra = ({"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
                 if err.status == "UNAUTHENTICATED" else {})
        return _json_reply(err.http_code, err.to_rest(), extra)
    state.record(call, "OK")
    return _json_reply(200, result)


_IAM_SERVICE = "google.iam.admin.v1.IAM"
_IAM_METHODS: dict[str, tuple[Any, Callable[[Any], bytes]]] = {
    "GetIamPolicy": (iam_policy_pb2.GetIamPolicyRequest, policy_pb2.Policy.SerializeToString),
    "SetIamPolicy": (iam_policy_pb2.SetIamPolicyRequest, policy_pb2.Policy.SerializeToString),
    "CreateServiceAccount": (iam_admin_v1.CreateServiceAccountRequest,
                             iam_admin_v1.ServiceAccount.serialize),
    "GetServiceAccount": (iam_admin_v1.GetServiceAccountRequest,
                          iam_admin_v1.ServiceAccount.serialize),
    "ListServiceAccountKeys": (iam_admin_v1.ListServiceAccountKeysRequest,
                               iam_admin_v1.ListServiceAccountKeysResponse.serialize),
    "GetServiceAccountKey": (iam_admin_v1.GetServiceAccountKeyRequest,
                             iam_admin_v1.ServiceAccountKey.serialize),
    "CreateServiceAccountKey": (iam_admin_v1.CreateServiceAccountKeyRequest,
                                iam_admin_v1.ServiceAccountKey.serialize),
    "DeleteServiceAccountKey": (iam_admin_v1.DeleteServiceAccountKeyRequest,
                                empty_pb2.Empty.SerializeToString),
    "DisableServiceAccountKey": (iam_admin_v1.DisableServiceAccountKeyRequest,
                                 empty_pb2.Empty.SerializeToString),
    "EnableServiceAccountKey": (iam_admin_v1.EnableServiceAccountKeyRequest,
                                empty_pb2.Empty.SerializeToString),
}


class _IamHandler(grpc.GenericRpcHandler):
    """Routes ``/google.iam.admin.v1.IAM/<Method>`` to :class:`IamAdminService`; methods not
    listed answer UNIMPLEMENTED (grpc's default for an unknown method)."""

    def __init__(self, state: GoogleCloudState) -> None:
        self.state = state
        self.impl = IamAdminService(state)

    def service(self, handler_call_details: grpc.HandlerCallDetails,  # type: ignore[override]
                ) -> grpc.RpcMethodHandler | None:
        prefix = f"/{_IAM_SERVICE}/"
        method: str = handler_call_details.method
        if not method.startswith(prefix) or method[len(prefix):] not in _IAM_METHODS:
            return None
        name = method[len(prefix):]
        request_type, serialize = _IAM_METHODS[name]
        impl = getattr(self.impl, name)

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            metadata = dict(context.invocation_metadata())
            call = CallContext("iam", name, metadata.get("authorization"))
            try:
                result = impl(call, request)
            except ApiError as err:
                self.state.record(call, err.status)
                context.abort_with_status(rpc_status.to_status(err.to_status()))
                raise AssertionError("unreachable") from err  # abort_with_status raises
            self.state.record(call, "OK")
            return result

        deserialize = getattr(request_type, "deserialize", None) or request_type.FromString
        return grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=deserialize, response_serializer=serialize)


class IamGrpcServer:
    """``google.iam.admin.v1.IAM`` over gRPC on 127.0.0.1 with LOCAL credentials, so a client
    can attach OAuth call credentials over loopback (see :func:`iam_client`)."""

    def __init__(self, state: GoogleCloudState) -> None:
        self.state = state
        self._server: grpc.Server | None = None
        self._port = 0

    def start(self) -> IamGrpcServer:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                             handlers=[_IamHandler(self.state)])
        self._port = server.add_secure_port("127.0.0.1:0", grpc.local_server_credentials())
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None

    def __enter__(self) -> IamGrpcServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT``, the gRPC target for :func:`iam_client`."""
        if self._server is None:
            raise RuntimeError("IamGrpcServer is not running")
        return f"127.0.0.1:{self._port}"


_SA_PATH = r"^/v1/(?P<name>projects/[^/]+/serviceAccounts/[^/:]+)"
_IAM_REST_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(_SA_PATH + "$"), "GetServiceAccount"),
    (re.compile(_SA_PATH + "/keys$"), "ListServiceAccountKeys"),
]
_HTTP2_PREFACE = b"PRI * HTTP/2.0"


def _iam_rest_request(name: str, resource: str, query: dict[str, list[str]]) -> Any:
    """The REST call as the gRPC request the service takes (query parameters as the REST
    mapping of the request's fields; an unknown enum name is Google's 400)."""
    if name == "GetServiceAccount":
        return iam_admin_v1.GetServiceAccountRequest(name=resource)
    key_type = iam_admin_v1.ListServiceAccountKeysRequest.KeyType
    types = query.get("keyTypes", [])
    for index, value in enumerate(types):
        if value not in key_type.__members__:
            raise ApiError("INVALID_ARGUMENT", (
                f"Invalid value at 'key_types[{index}]' "
                f"(type.googleapis.com/google.iam.admin.v1.ListServiceAccountKeysRequest.KeyType), "
                f'"{value}"'), [error_details_pb2.BadRequest(field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=f"key_types[{index}]", description=f'Invalid value "{value}"')])])
    return iam_admin_v1.ListServiceAccountKeysRequest(
        name=resource, key_types=[key_type[value] for value in types])


def _splice(client: Any, target: str) -> None:
    """Carry bytes both ways between ``client`` and ``target`` until either side closes."""
    host, _, port = target.rpartition(":")
    with socket.create_connection((host, int(port))) as upstream:
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peers = {client: upstream, upstream: client}
        while True:
            readable, _, _ = select.select(list(peers), [], [])
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)
                # TLS: what is already decrypted does not make the socket readable again
                while isinstance(sock, ssl.SSLSocket) and sock.pending():
                    peers[sock].sendall(sock.recv(sock.pending()))


class _GrpcOrRestServer(ThreadingHTTPServer):
    """One port for both, as iam.googleapis.com: a connection that opens with HTTP/2's preface
    (gRPC), or over TLS negotiates ``h2``, is carried to the owner's gRPC server, any other is
    served as HTTP/1.1 REST."""

    def finish_request(self, request: Any, client_address: Any) -> None:
        owner: IamServer = self.RequestHandlerClass.owner  # type: ignore[attr-defined]
        if isinstance(request, ssl.SSLSocket):  # over TLS, ALPN says which (gRPC asks for h2)
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return  # a client that does not trust us, as Google's would be turned away
            if request.selected_alpn_protocol() == "h2":
                _splice(request, owner.grpc.target)
            else:
                super().finish_request(request, client_address)
        elif request.recv(len(_HTTP2_PREFACE), socket.MSG_PEEK) == _HTTP2_PREFACE:
            _splice(request, owner.grpc.target)
        else:
            super().finish_request(request, client_address)


class IamServer(_LoopbackHttpServer):
    """IAM on one loopback port, as Google serves it: the gRPC surface (:class:`IamGrpcServer`,
    started with it) and the REST surface of the reads (``GET /v1/{serviceAccount}`` and
    ``GET /v1/{serviceAccount}/keys?keyTypes=...``), both on :class:`IamAdminService`, so REST
    enforces exactly what gRPC does and answers Google's REST error bodies."""

    server_class = _GrpcOrRestServer

    def __init__(self, state: GoogleCloudState) -> None:
        super().__init__(state)
        self.grpc = IamGrpcServer(state)
        self.service = IamAdminService(state)

    def start(self) -> IamServer:
        self.grpc.start()
        return super().start()

    def on_stop(self) -> None:
        self.grpc.stop()

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT``: the gRPC target for :func:`iam_client`, and the REST host."""
        return self.host

    def dispatch(self, method: str, path: str, headers: Message,
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urllib.parse.urlsplit(path)
        route_path = urllib.parse.unquote(parts.path)
        match = name = None
        for pattern, name in _IAM_REST_ROUTES:  # noqa: B007 - name is used after the loop
            match = pattern.match(route_path)
            if match:
                break
        if match is None or name is None or method != "GET":
            return _json_reply(404, ApiError("NOT_FOUND", "Method not found.").to_rest())
        call = CallContext("iam", name, headers.get("Authorization"))
        query = urllib.parse.parse_qs(parts.query)
        resource = match.group("name")

        def run() -> dict[str, Any]:
            request = _iam_rest_request(name, resource, query)
            answer = getattr(self.service, name)(call, request)
            return json_format.MessageToDict(type(answer).pb(answer))

        return _rest_answer(self.state, call, run)


# -- client construction (the shapes verified by test_google_stand_ins.py) -------------------

def iam_client(target: str, credentials: Any) -> iam_admin_v1.IAMClient:
    """The real IAM client on a loopback gRPC channel that still carries OAuth credentials:
    ``secure_authorized_channel`` with LOCAL channel credentials (a plain insecure channel would
    drop the call credentials, so the server would see no token)."""
    import google.auth.transport.grpc
    import google.auth.transport.requests

    channel = google.auth.transport.grpc.secure_authorized_channel(
        credentials, google.auth.transport.requests.Request(), target,
        ssl_credentials=grpc.local_channel_credentials())
    return iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=channel))


def artifact_registry_client(api_endpoint: str,
                             credentials: Any) -> artifactregistry_v1.ArtifactRegistryClient:
    """The real Artifact Registry client over REST against a plain-http endpoint."""
    return artifactregistry_v1.ArtifactRegistryClient(
        transport="rest", client_options={"api_endpoint": api_endpoint}, credentials=credentials)


# -- the Google Docker registry's grant decision ---------------------------------------------

@dataclass(frozen=True)
class RegistryTarget:
    """Which Artifact Registry repository a Docker repository path lives in."""

    project_id: str
    location: str
    repository_id: str
    image: str
    create_on_push: bool  # gcr.io hosts may create their AR repository on first push

    @property
    def name(self) -> str:
        return (f"projects/{self.project_id}/locations/{self.location}/repositories/"
                f"{self.repository_id}")


def ar_repository_for(host: str, repository: str) -> RegistryTarget:
    """Map (registry host, repository path) to the AR repository Google checks.

    * ``gcr.io``/``us.gcr.io`` -> location ``us``; ``eu.gcr.io`` -> ``europe``; ``asia.gcr.io``
      -> ``asia``; the repository id is the host itself and the path is ``PROJECT/IMAGE...``.
    * ``LOCATION-docker.pkg.dev`` -> that location; the path is ``PROJECT/REPOSITORY/IMAGE...``.

    Domain-scoped projects (``example.com:proj``) are not handled. Raises ValueError otherwise.
    """
    host = host.lower().split(":")[0] if host.count(":") == 1 else host.lower()
    parts = repository.strip("/").split("/")
    if host in GCR_HOSTS:
        if len(parts) < 2 or not all(parts):
            raise ValueError(f"{host} repositories are PROJECT/IMAGE, not {repository!r}")
        return RegistryTarget(parts[0], GCR_HOSTS[host], host, "/".join(parts[1:]), True)
    match = re.fullmatch(r"([a-z0-9-]+)-docker\.pkg\.dev", host)
    if match:
        if len(parts) < 3 or not all(parts):
            raise ValueError(f"{host} repositories are PROJECT/REPOSITORY/IMAGE, not "
                             f"{repository!r}")
        return RegistryTarget(parts[0], match.group(1), parts[1], "/".join(parts[2:]), False)
    raise ValueError(f"{host} is not a Google registry host")


class GoogleRegistryAuthorizer:
    """What ``LOCATION-docker.pkg.dev`` / ``gcr.io`` decide for a Docker login and scope.

    Logins: ``_json_key`` (password = key file JSON), ``_json_key_base64`` (base64 of it) or
    ``oauth2accesstoken`` (password = an access token or self-signed JWT). A key must be one
    the stand-in IAM issued and still active. Actions: ``pull`` needs downloadArtifacts, ``push``
    uploadArtifacts, ``delete`` deleteArtifacts, all EFFECTIVE (each call is one propagation
    check on the repository). A missing gcr.io repository grants push (and pull) to holders of
    ``createOnPush`` on the project.
    """

    def __init__(self, state: GoogleCloudState, host: str) -> None:
        self.state = state
        self.host = host

    def authenticate(self, username: str | None, password: str | None) -> str | None:
        if not username or not password:
            return None
        if username in ("_json_key", "_json_key_base64"):
            try:
                text = (base64.b64decode(password, validate=True).decode()
                        if username == "_json_key_base64" else password)
                info = json.loads(text)
            except (ValueError, binascii.Error, UnicodeDecodeError):
                return None
            return self.state.principal_for_key_file(info) if isinstance(info, dict) else None
        if username == "oauth2accesstoken":
            try:
                return self.state.authenticate(f"Bearer {password}")
            except ApiError:
                return None
        return None

    def authorize(self, username: str | None, password: str | None, repository: str,
                  requested_actions: Iterable[str]) -> set[str] | None:
        """Granted actions (a subset of those requested), or None for bad credentials (401)."""
        target = ar_repository_for(self.host, repository)
        call = CallContext("registry", "authorize", None, resource=target.name)
        principal = self.authenticate(username, password)
        if principal is None:
            self.state.record(call, "UNAUTHENTICATED")
            return None
        call.caller = principal
        with self.state.lock:
            repo = self.state.repositories.get(target.name)
            if repo is not None:
                held = self.state.effective_permissions(principal, target.project_id, repo)
            elif target.create_on_push and CREATE_ON_PUSH in self.state.project_permissions(
                    target.project_id, principal):
                held = {UPLOAD_ARTIFACTS, DOWNLOAD_ARTIFACTS}
            else:
                held = set()
        self.state.record(call, "OK")
        allowed = {action for action, permission in (("pull", DOWNLOAD_ARTIFACTS),
                                                     ("push", UPLOAD_ARTIFACTS),
                                                     ("delete", DELETE_ARTIFACTS))
                   if permission in held}
        return allowed & set(requested_actions)


def google_token_server(authorizer: GoogleRegistryAuthorizer, *,
                        delete_with_push: bool = True, **kwargs: Any) -> Any:
    """A :class:`tests.stand_ins.token_server.TokenServer` whose grant decision is
    ``authorizer``'s instead of its user table (start it, or hand it to ``make_registry``).

    ``delete_with_push`` also grants ``delete`` to whoever may push: distribution 2.8 needs
    ``delete`` to cancel an upload session, which Google's registry lets any pusher do.
    Simpler than Google: the token is the TokenServer's JWT (Google's is opaque), and bad
    credentials get the TokenServer's 401 body.
    """
    from tests.stand_ins import token_server as ts

    class GoogleTokenServer(ts.TokenServer):
        thread_name = "google-token-server"

        def access_for_credentials(self, username: str | None, password: str | None,
                                   scopes: list[str]) -> list[dict[str, Any]] | None:
            access: list[dict[str, Any]] = []
            for scope in scopes:
                rtype, name, wanted = ts.parse_scope(scope)
                granted: set[str] = set()
                if rtype == "repository":
                    try:
                        decision = authorizer.authorize(username, password, name, wanted)
                    except ValueError:  # not a Google repository path: nothing granted
                        decision = set()
                    if decision is None:
                        return None
                    granted = decision
                    if delete_with_push and "push" in granted and "delete" in wanted:
                        granted.add("delete")
                elif authorizer.authenticate(username, password) is None:
                    return None
                access.append({"type": rtype, "name": name,
                               "actions": [a for a in wanted if a in granted]})
            if not scopes and authorizer.authenticate(username, password) is None:
                return None
            return access

    kwargs.setdefault("service", authorizer.host)
    return GoogleTokenServer({}, **kwargs)


# -- everything together ---------------------------------------------------------------------

@dataclass(frozen=True)
class GoogleEndpoints:
    """Where the stand-ins listen, in the forms the clients take."""

    token_uri: str  # in every key file; google-auth posts its grant here
    iam_target: str  # gRPC target for iam_client(), and the host of IAM's REST API
    artifact_registry: str  # api_endpoint for artifact_registry_client()


class GoogleCloud:
    """State plus the OAuth, IAM (gRPC and REST, one port) and Artifact Registry (REST) servers, started together
    with one project (``project_id``) that has both APIs enabled."""

    def __init__(self, project_id: str = "binder-test", project_number: str = "123456789012",
                 *, propagation_checks: int = 0) -> None:
        self.state = GoogleCloudState(propagation_checks=propagation_checks)
        self.project_id = project_id
        self.project = self.state.add_project(project_id, project_number)
        self.oauth = OAuthServer(self.state)
        self.iam = IamServer(self.state)
        self.artifact_registry = ArtifactRegistryRestServer(self.state)

    def start(self) -> GoogleCloud:
        self.oauth.start()
        self.iam.start()
        self.artifact_registry.start()
        return self

    def stop(self) -> None:
        for server in (self.artifact_registry, self.iam, self.oauth):
            server.stop()

    def __enter__(self) -> GoogleCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoints(self) -> GoogleEndpoints:
        return GoogleEndpoints(self.oauth.token_uri, self.iam.target, self.artifact_registry.url)

    def add_principal(self, account_id: str, roles: Iterable[str] = ADMIN_ROLES,
                      project_id: str | None = None) -> dict[str, str]:
        """A service account with project roles and a key; returns the key file."""
        return self.state.add_principal(project_id or self.project_id, account_id, roles)

    def iam_client(self, credentials: Any) -> iam_admin_v1.IAMClient:
        return iam_client(self.iam.target, credentials)

    def artifact_registry_client(self, credentials: Any,
                                 ) -> artifactregistry_v1.ArtifactRegistryClient:
        return artifact_registry_client(self.artifact_registry.url, credentials)

    def authorizer(self, host: str = "us-docker.pkg.dev") -> GoogleRegistryAuthorizer:
        return GoogleRegistryAuthorizer(self.state, host)


def credentials_from(key_file: Mapping[str, str]) -> Any:
    """``service_account.Credentials`` for a stand-in key file, with the cloud-platform scope
    (without a scope Google's token endpoint answers invalid_scope, and so does ours)."""
    from google.oauth2 import service_account

    return service_account.Credentials.from_service_account_info(
        dict(key_file), scopes=[CLOUD_PLATFORM_SCOPE])


__all__ = [
    "ADMIN_ROLES", "AR_API", "ApiError", "ArtifactRegistryRestServer", "ArtifactRegistryService",
    "CLOUD_PLATFORM_SCOPE", "Call", "CallContext", "GCR_HOSTS", "GoogleCloud",
    "GoogleCloudState", "GoogleEndpoints", "GoogleRegistryAuthorizer", "IAM_API",
    "IamAdminService", "IamGrpcServer", "IamServer", "KEY_LIMIT", "OAuthError", "OAuthServer",
    "ROLE_PERMISSIONS", "RegistryTarget", "UPLOAD_ARTIFACTS", "WRITE_METHODS",
    "ar_repository_for", "artifact_registry_client", "credentials_from", "google_token_server",
    "iam_client", "member_for", "permission_denied", "permissions_of",
    "service_disabled", "unauthenticated",
]
