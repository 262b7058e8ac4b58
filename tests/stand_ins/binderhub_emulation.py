"""A synchronous, httpx-based stand-in for how BinderHub uses registry credentials.

Purpose: check that the docker ``config.json`` Secret and the BinderHub helm values that
binderhub-registry generates work for BinderHub itself, against a real registry, without
running BinderHub (no tornado app, no Kubernetes). Everything here is written from a reading of
upstream; no upstream code is copied. Where this module deliberately differs from upstream, the
difference is called out below.

Upstream read
-------------
* jupyterhub/binderhub at commit ``b9fad995d5529e487c25a9f0795f4fe150a96f25`` (2026-04-20).
  ``binderhub/registry.py`` last changed in ``ad9aaa3b23870666bbff744cf47b77c2ef758709``
  (2026-04-02, OCI ``Accept`` header). Files read: ``binderhub/registry.py``,
  ``binderhub/builder.py``, ``binderhub/build.py``, ``binderhub/health.py``,
  ``binderhub/app.py``, ``helm-chart/binderhub/templates/{deployment.yaml,_helpers.tpl}``,
  ``helm-chart/binderhub/files/binderhub_config.py``,
  ``helm-chart/images/binderhub/requirements.in``.
* tornadoweb/tornado at ``e530031405e2154654dedc4c84d5656b557ea310``: ``httputil.url_concat``,
  ``curl_httpclient`` (BinderHub's ``init_pycurl`` selects the curl client, and the image
  installs pycurl, so wire behaviour is libcurl's).
* docker-py 7.1.0 ``docker/auth.py`` (installed) for :func:`docker_push_credentials`.
* distribution v2.8.2 ``registry/handlers/manifests.go`` for the ``Accept`` notes.

Behaviours reproduced (upstream name it mirrors -> here)
--------------------------------------------------------
* ``DockerRegistry.docker_config_path`` default: ``$DOCKER_CONFIG/config.json`` if the
  variable is set (even to ""), else ``~/.docker/config.json`` from ``HOME``
  -> :attr:`BinderHubRegistryClient.docker_config_path`.
* ``DockerRegistry._load_docker_config`` (``_docker_config``): a missing file gives ``{}`` and
  the warning "No docker config at ..."; a directory or invalid JSON is an uncaught error;
  loaded once, lazily -> :attr:`~BinderHubRegistryClient.docker_config`.
* ``DockerRegistry._default_url``: no ``auths`` -> ``https://registry-1.docker.io``; else the
  first ``auths`` key in file order, ``https://`` prepended when it has no ``://``;
  exactly ``https://index.docker.io/v1/`` -> ``https://registry-1.docker.io``
  -> :attr:`~BinderHubRegistryClient.url`.
* ``DockerRegistry._auth_config_url_default``: the url itself if it is an ``auths`` key, else
  ``urlparse(url).hostname`` (lower-cased, no port) if that is a key, else
  ``https://index.docker.io/v1/`` for ``*.docker.io``/``*.docker.com`` hosts, else the url
  -> :attr:`~BinderHubRegistryClient.auth_config_url`.
* ``DockerRegistry._default_username`` / ``_default_password``: base64-decode only the
  ``auth`` field of ``auths[auth_config_url]`` and split at the first ``:``; no entry or no
  ``auth`` -> ``""`` with a warning. ``username``/``password`` fields in the entry are ignored
  -> :attr:`~BinderHubRegistryClient.username`, :attr:`~BinderHubRegistryClient.password`.
* ``DockerRegistry._default_token_url``: ``*.gcr.io``/``gcr.io`` (by hostname) ->
  ``https://{host}/v2/token?service={host}``; url string ending ``.docker.io`` ->
  ``https://auth.docker.io/token?service=registry.docker.io``; else ``""``.
  ``GoogleArtifactRegistry._default_token_url`` -> the GCE metadata server token URL
  -> :attr:`~BinderHubRegistryClient.token_url`.
* ``DockerRegistry._default_not_found_401``: url string ends with ``.docker.io``
  -> :attr:`~BinderHubRegistryClient.not_found_401`.
* traitlets config loading: the ``DockerRegistry`` section applies to subclasses and a
  subclass section wins; ``None`` for these ``Unicode`` traits, or a non-bool for ``Bool``,
  fails at startup (:class:`UpstreamConfigError`); unknown options only warn
  -> ``BinderHubRegistryClient.__init__``.
* ``DockerRegistry._get_token``: GET ``url_concat(token_url, {scope, service})`` with HTTP Basic
  ``username:password``; reply's ``token``, else ``access_token``, else ``ValueError``.
  ``GoogleArtifactRegistry._get_token``: GET the token URL as is, header
  ``Metadata-Flavor: Google``, no Basic auth, reply's ``access_token``
  -> ``BinderHubRegistryClient._get_token``.
* ``tornado.httputil.url_concat``: existing query pairs are kept (blank values too) and the new
  pairs are appended, then everything is re-encoded with ``urlencode``; so
  ``...?service=X`` becomes ``...?service=X&scope=...&service=container_registry``
  -> :func:`url_concat`.
* ``DockerRegistry.get_image_manifest``: GET ``{url}/v2/{image}/manifests/{tag}`` with
  ``Accept: application/vnd.oci.image.manifest.v1+json`` and either ``Bearer`` (token from
  ``token_url``, ``scope=repository:{image}:pull``, ``service=container_registry``) or Basic.
  404 -> ``None``; 401 with a token and ``not_found_401`` -> ``None``; 401 without a token and
  with ``WWW-Authenticate`` -> the fallback below; anything else raises
  -> :meth:`BinderHubRegistryClient.get_image_manifest`.
* ``DockerRegistry._parse_www_authenticate_header`` +
  ``_get_image_manifest_from_www_authenticate``: only ``Bearer`` challenges, which must carry
  ``realm``, ``service`` and ``scope``; token from ``realm`` (Basic, scope then service
  appended), then the manifest GET again with **only** ``Authorization: Bearer`` -- no
  ``Accept`` set by BinderHub on either request, so libcurl sends ``Accept: */*``.
  404 -> ``None``, no ``not_found_401`` handling there.
* ``FakeRegistry.get_image_manifest``: always ``None``, no requests.
* ``builder._get_image_basename_and_tag``: split the tag at the last ``:`` (default
  ``latest``); keep names matching ``[a-z0-9]{4,40}/[a-z0-9._-]{2,255}`` (Docker Hub shape);
  otherwise drop the first path component only -> :func:`image_basename_and_tag`.
* ``BuildHandler`` image name: ``"{prefix}{slug}:{ref}"`` with ``_`` -> ``-`` and lower-cased
  (the whole string, prefix included) -> :func:`builder_image_name`.
* ``BuildHandler`` lookup: up to 3 attempts, HTTP errors (including curl's 599) are logged
  and mean "not found"; other exceptions escape -> :meth:`BinderHubRegistryClient.image_found`.
* ``HealthHandler.check_docker_registry``: ``image_prefix + "some-image-name:12345"``,
  3 attempts, any exception -> ``False`` -> :meth:`BinderHubRegistryClient.health_check`.
* ``KubernetesBuildExecutor.get_builder_volumes``: when there are no
  ``registry_credentials`` and ``push_secret`` is set, the Secret's key ``config.json`` is
  mounted via ``subPath`` at ``/root/.docker/config.json`` -> :func:`build_pod_push_secret`,
  :func:`build_pod_files`, :func:`build_pod_docker_config`.
* chart ``_helpers.tpl`` ``buildDockerConfig`` and ``deployment.yaml`` mounts (the chart's own
  ``binder-build-docker-config`` at ``/root/.docker``, ``extraVolumes``/``extraVolumeMounts``,
  ``extraEnv``) -> :func:`chart_build_docker_config`, :func:`binder_pod_files`,
  :func:`binder_pod_env`, :meth:`BinderHubRegistryClient.from_helm_values`.
* The build pod's push (repo2docker's docker client): :func:`docker_push_credentials` uses
  ``docker.auth`` (docker-py) to pick the ``auths`` entry for the image's registry.

Wire details of tornado's curl client reproduced on every request: libcurl's default
``Accept: */*`` when BinderHub sets no ``Accept``; ``User-Agent: Mozilla/5.0 (compatible;
pycurl)``; ``Accept-Encoding: gzip,deflate``; Basic credentials NFC-normalised and sent
pre-emptively even when both are empty (``Basic Og==``, checked with curl 7.88);
redirects followed (at most 5); 20 s timeouts.

Deliberate differences (documented so tests can rely on them)
-------------------------------------------------------------
* Upstream logs a failed manifest lookup and treats the image as missing (so BinderHub quietly
  rebuilds). Here every failure raises, so tests see WHY: :class:`RegistryHTTPError` for what
  upstream catches (HTTP status >= 300 after redirects, or a connection failure as code 599),
  :class:`UpstreamCrash` for what upstream does not catch (e.g. a ``Basic`` challenge, no token
  in a token reply, a config file that is a directory). Each error has ``upstream_outcome``.
  :meth:`~BinderHubRegistryClient.image_found` and
  :meth:`~BinderHubRegistryClient.health_check` give the upstream verdicts and keep the errors.
* Synchronous httpx instead of async tornado; no sleep between health-check retries; no
  15 s health-check caching; ``ExternalRegistryHelper`` and custom registry classes are not
  emulated (``NotImplementedError``).
* Relative ``docker_config_path`` values (e.g. ``DOCKER_CONFIG=""``) are rejected, because the
  binder container's working directory is not modelled.

Facts checked against the real distribution 2.8.2 binary (htpasswd auth)
------------------------------------------------------------------------
* Wrong credentials -> 401 with ``WWW-Authenticate: Basic realm="..."``; BinderHub's fallback
  then raises ``ValueError`` (uncaught: the ``/build`` request fails, the health check is
  False).
* An OCI image manifest is found on the main path (OCI ``Accept``) but is a 404 on the
  fallback path (``Accept: */*``: "OCI manifest found, but accept header does not support OCI
  manifests"). An OCI *index* is a 404 on both paths (read in manifests.go, not run).
* A docker schema2 manifest is returned converted to schema1 (200) on both paths -- but only
  if it has at least one layer; a zero-layer schema2 manifest gives 400 ``MANIFEST_INVALID``.
"""

from __future__ import annotations

import base64
import copy
import json
import posixpath
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlsplit, urlunsplit

import httpx

UPSTREAM_COMMIT = "b9fad995d5529e487c25a9f0795f4fe150a96f25"

DOCKER_HUB_REGISTRY_URL = "https://registry-1.docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
DOCKER_HUB_TOKEN_URL = "https://auth.docker.io/token?service=registry.docker.io"
GCE_METADATA_TOKEN_URL = (
    "http://metadata.google.internal/computeMetadata/v1/instance/"
    "service-accounts/default/token"
)
OCI_IMAGE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TOKEN_SERVICE = "container_registry"

# What tornado's curl client puts on the wire besides BinderHub's own headers.
CURL_DEFAULT_ACCEPT = "*/*"
CURL_USER_AGENT = "Mozilla/5.0 (compatible; pycurl)"
CURL_ACCEPT_ENCODING = "gzip,deflate"
TORNADO_TIMEOUT_SECONDS = 20.0
TORNADO_MAX_REDIRECTS = 5

CHART_PUSH_SECRET = "binder-build-docker-config"
CHART_DOCKER_CONFIG_MOUNT = "/root/.docker"
BUILD_POD_DOCKER_CONFIG_PATH = "/root/.docker/config.json"
BUILD_POD_SECRET_KEY = "config.json"

REGISTRY_CLASSES: dict[str, tuple[str, ...]] = {
    # dotted name -> config sections consulted, base class first (later sections win)
    "binderhub.registry.DockerRegistry": ("DockerRegistry",),
    "binderhub.registry.GoogleArtifactRegistry": ("DockerRegistry", "GoogleArtifactRegistry"),
    "binderhub.registry.FakeRegistry": ("DockerRegistry", "FakeRegistry"),
}
DEFAULT_REGISTRY_CLASS = "binderhub.registry.DockerRegistry"

# trait name -> python type expected by the traitlets trait (Unicode -> str, Bool -> bool)
_REGISTRY_TRAITS: dict[str, type] = {
    "url": str,
    "auth_config_url": str,
    "docker_config_path": str,
    "token_url": str,
    "username": str,
    "password": str,
    "not_found_401": bool,
}
_BINDERHUB_TRAITS: dict[str, type] = {"image_prefix": str, "use_registry": bool}

_DOCKER_HUB_NAME = re.compile(r"[a-z0-9]{4,40}/[a-z0-9._-]{2,255}")

_HANDLED = "logged by BinderHub; the image counts as not found, so it is rebuilt (3 attempts)"
_CRASH = "not caught by BinderHub: the /build request fails and the health check is False"


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


class EmulationError(Exception):
    """Base class. ``upstream_outcome`` says what real BinderHub would do instead."""

    upstream_outcome = ""


class UpstreamConfigError(EmulationError):
    """The config would make traitlets raise ``TraitError`` when BinderHub starts."""

    upstream_outcome = "TraitError at startup: the binder pod crash-loops"


class RegistryHTTPError(EmulationError):
    """Upstream's ``tornado.httpclient.HTTPClientError`` (a status >= 300, or 599)."""

    upstream_outcome = _HANDLED

    def __init__(self, code: int, url: str, response: httpx.Response | None, detail: str = ""):
        self.code = code
        self.url = url
        self.response = response
        self.www_authenticate = response.headers.get("www-authenticate") if response else None
        body = ""
        if response is not None:
            try:
                body = response.text[:500]
            except Exception:  # pragma: no cover - undecodable body
                body = repr(response.content[:500])
        self.body = body
        parts = [f"HTTP {code} from GET {_redact_url(url)}"]
        if detail:
            parts.append(detail)
        if self.www_authenticate:
            parts.append(f"WWW-Authenticate: {self.www_authenticate}")
        if body:
            parts.append(f"body: {body}")
        super().__init__("; ".join(parts))


class UpstreamCrash(EmulationError):
    """An exception BinderHub does not catch around the registry lookup."""

    upstream_outcome = _CRASH


class BuildPodStartError(KeyError):
    """The build pod (or binder pod) could not start: a mounted Secret or key is missing."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


# --------------------------------------------------------------------------------------------
# small helpers mirroring upstream functions
# --------------------------------------------------------------------------------------------


def url_concat(url: str, pairs: Mapping[str, str] | list[tuple[str, str]]) -> str:
    """Append query parameters the way ``tornado.httputil.url_concat`` does.

    The existing query is decoded with blank values kept, the new pairs go after it (a key
    that is already there is *not* replaced), and the result is re-encoded with
    ``urllib.parse.urlencode`` (spaces become ``+``, ``:`` and ``/`` are percent-encoded).
    """
    extra = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    scheme, netloc, path, query, fragment = urlsplit(url)
    combined = parse_qsl(query, keep_blank_values=True) + extra
    return urlunsplit((scheme, netloc, path, urlencode(combined), fragment))


def basic_authorization(username: str, password: str) -> str:
    """The ``Authorization`` value libcurl sends for tornado's ``auth_username/password``."""
    user = unicodedata.normalize("NFC", username).encode("utf-8")
    secret = unicodedata.normalize("NFC", password).encode("utf-8")
    return "Basic " + base64.b64encode(user + b":" + secret).decode("ascii")


def parse_bearer_challenge(header: str) -> tuple[str, str, str]:
    """(realm, service, scope) from a ``WWW-Authenticate`` header, as BinderHub reads it.

    Only ``Bearer`` challenges are accepted (prefix compared case-insensitively), and all
    three of ``realm="..."`` (non-empty), ``service="..."`` and ``scope="..."`` (may be empty)
    must be present. Anything else raises :class:`UpstreamCrash` (upstream: ``ValueError``).
    """
    if not header.lower().startswith("bearer "):
        raise UpstreamCrash(
            f"BinderHub only follows WWW-Authenticate Bearer challenges, got: {header}"
        )
    found = {}
    for name, pattern in (
        ("realm", r'realm="([^"]+)"'),
        ("service", r'service="([^"]*)"'),
        ("scope", r'scope="([^"]*)"'),
    ):
        match = re.search(pattern, header)
        if match is None:
            raise UpstreamCrash(
                f"BinderHub needs realm, service and scope in WWW-Authenticate "
                f"(missing {name}): {header}"
            )
        found[name] = match.group(1)
    return found["realm"], found["service"], found["scope"]


def image_basename_and_tag(image_spec: str) -> tuple[str, str]:
    """Repository path (without registry host) and tag, as ``_get_image_basename_and_tag``.

    The tag is whatever follows the last ``:`` (so ``host:5000/x`` without a tag yields the
    tag ``5000/x``); without a ``:`` the tag is ``latest``. A name shaped like a Docker Hub
    name (``[a-z0-9]{4,40}/[a-z0-9._-]{2,255}``) is kept whole; otherwise only the first
    path component is removed, whatever it is.
    """
    name, sep, tag = image_spec.rpartition(":")
    if not sep:
        name, tag = image_spec, "latest"
    if _DOCKER_HUB_NAME.fullmatch(name):
        return name, tag
    return name.partition("/")[2], tag


def builder_image_name(image_prefix: str, build_slug: str, ref: str) -> str:
    """The image name BinderHub builds and looks up (its slug escaping is not reproduced)."""
    return f"{image_prefix}{build_slug}:{ref}".replace("_", "-").lower()


def _check_trait(section: str, name: str, value: Any, expected: type) -> Any:
    if expected is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise UpstreamConfigError(
            f"config.{section}.{name} must be a boolean, not {type(value).__name__} {value!r}"
        )
    if isinstance(value, str):
        return value
    raise UpstreamConfigError(
        f"config.{section}.{name} must be a string, not {type(value).__name__} {value!r}"
        + (" (null is not allowed: leave the key out instead)" if value is None else "")
    )


def _is_absolute(path: str) -> bool:
    return path.startswith("/")


# --------------------------------------------------------------------------------------------
# the binder pod's registry client
# --------------------------------------------------------------------------------------------


@dataclass
class BuilderLookup:
    """Outcome of :meth:`BinderHubRegistryClient.image_found` (BinderHub's build handler)."""

    found: bool
    manifest: dict | None = None
    errors: list[RegistryHTTPError] = field(default_factory=list)


@dataclass
class HealthResult:
    """Outcome of :meth:`BinderHubRegistryClient.health_check` (``/health`` registry check)."""

    ok: bool
    image: str
    tag: str
    errors: list[Exception] = field(default_factory=list)


class BinderHubRegistryClient:
    """What the binder pod's ``registry_class`` instance does with our config.

    ``config`` is the ``config`` section of the BinderHub helm values
    (``{"BinderHub": {...}, "DockerRegistry": {...}, ...}``); ``files`` maps absolute paths to
    contents and stands for the binder pod's filesystem; ``env`` stands for its environment
    (only ``DOCKER_CONFIG`` and ``HOME`` matter; default ``{"HOME": "/root"}`` as in the binder
    image, which runs as root).

    Trait values (``url``, ``auth_config_url``, ``docker_config_path``, ``token_url``,
    ``username``, ``password``, ``not_found_401``) are properties computed lazily and cached,
    like traitlets dynamic defaults, so e.g. the docker config is only read when a default
    needs it. Every request sent is appended to :attr:`requests`; BinderHub's log warnings
    are appended to :attr:`log`.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        files: Mapping[str, bytes] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        verify: Any = True,
        timeout: float = TORNADO_TIMEOUT_SECONDS,
    ):
        config = {} if config is None else config
        if not isinstance(config, Mapping):
            raise UpstreamConfigError(f"config must be a mapping, not {type(config).__name__}")
        for section, body in config.items():
            if body is not None and not isinstance(body, Mapping):
                raise UpstreamConfigError(f"config.{section} must be a mapping")
        self.config = config
        self.files: dict[str, bytes] = {}
        for path, data in (files or {}).items():
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError(f"file contents for {path} must be bytes")
            self.files[posixpath.normpath(path)] = bytes(data)
        self.env: dict[str, str] = dict({"HOME": "/root"} if env is None else env)
        self.log: list[str] = []
        self.requests: list[httpx.Request] = []
        self.config_warnings: list[str] = []

        binderhub = dict(config.get("BinderHub") or {})
        self.registry_class = binderhub.get("registry_class", DEFAULT_REGISTRY_CLASS)
        if not isinstance(self.registry_class, str) or self.registry_class not in REGISTRY_CLASSES:
            raise NotImplementedError(
                f"registry_class {self.registry_class!r} is not emulated; "
                f"supported: {sorted(REGISTRY_CLASSES)}"
            )
        self.image_prefix: str = _check_trait(
            "BinderHub", "image_prefix", binderhub.get("image_prefix", ""), str
        )
        self.use_registry: bool = _check_trait(
            "BinderHub", "use_registry", binderhub.get("use_registry", True), bool
        )

        # traitlets: sections of base classes apply to subclasses; the most derived wins
        self._explicit: dict[str, Any] = {}
        for section in REGISTRY_CLASSES[self.registry_class]:
            for name, value in (config.get(section) or {}).items():
                if name not in _REGISTRY_TRAITS:
                    self.config_warnings.append(
                        f"Config option `{name}` not recognized by `{section}`."
                    )
                    continue
                self._explicit[name] = _check_trait(section, name, value, _REGISTRY_TRAITS[name])
        self._cache: dict[str, Any] = {}

        self._http = httpx.Client(
            transport=transport,
            verify=verify,
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            max_redirects=TORNADO_MAX_REDIRECTS,
            event_hooks={"request": [self.requests.append]},
        )
        # libcurl does not send "Connection: keep-alive"; keep only what curl sends
        self._http.headers.pop("Connection", None)

    # ----- construction from helm values --------------------------------------------------

    @classmethod
    def from_helm_values(
        cls,
        values: Mapping[str, Any],
        secrets: Mapping[str, Mapping[str, bytes]] | None = None,
        config_maps: Mapping[str, Mapping[str, str]] | None = None,
        **kwargs: Any,
    ) -> BinderHubRegistryClient:
        """Client for a binder pod deployed by the BinderHub chart with these ``values``.

        ``values`` are the user values of the BinderHub release (chart defaults relevant here
        are merged in); ``secrets`` maps Secret name -> {key: bytes} for Secrets referenced
        by ``extraVolumes``/``extraEnv``. The chart's own ``binder-build-docker-config`` is
        rendered from ``registry.*`` unless given in ``secrets``.
        """
        effective = merge_helm_values(BINDERHUB_CHART_DEFAULTS, values)
        return cls(
            config=effective.get("config") or {},
            files=binder_pod_files(effective, secrets, config_maps, merged=True),
            env=binder_pod_env(effective, secrets, config_maps, merged=True),
            **kwargs,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BinderHubRegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- trait values ------------------------------------------------------------------

    def _trait(self, name: str) -> Any:
        if name not in self._cache:
            if name in self._explicit:
                self._cache[name] = self._explicit[name]
            else:
                self._cache[name] = getattr(self, f"_derive_{name}")()
        return self._cache[name]

    @property
    def is_google_artifact_registry(self) -> bool:
        return self.registry_class == "binderhub.registry.GoogleArtifactRegistry"

    @property
    def docker_config_path(self) -> str:
        return self._trait("docker_config_path")

    def _derive_docker_config_path(self) -> str:
        if "DOCKER_CONFIG" in self.env:
            directory = self.env["DOCKER_CONFIG"]
        else:
            home = self.env.get("HOME")
            if not home:
                raise ValueError("env has neither DOCKER_CONFIG nor HOME")
            directory = posixpath.join(home, ".docker")
        return posixpath.join(directory, "config.json")

    @property
    def docker_config(self) -> dict:
        """The parsed docker config (upstream ``_docker_config``), loaded once."""
        if "_docker_config" not in self._cache:
            self._cache["_docker_config"] = self._load_docker_config()
        return self._cache["_docker_config"]

    def _load_docker_config(self) -> dict:
        path = self.docker_config_path
        if not _is_absolute(path):
            raise ValueError(
                f"docker_config_path {path!r} is relative; the emulation does not model the "
                "binder container's working directory"
            )
        path = posixpath.normpath(path)
        if path in self.files:
            try:
                return json.loads(self.files[path].decode("utf-8"))
            except ValueError as exc:
                raise UpstreamCrash(f"docker config {path} is not valid JSON: {exc}") from exc
        if any(p.startswith(path.rstrip("/") + "/") for p in self.files):
            raise UpstreamCrash(
                f"docker_config_path {path} is a directory in the binder pod "
                "(IsADirectoryError when BinderHub opens it)"
            )
        self.log.append(f"No docker config at {path}")
        return {}

    def _auths(self) -> dict:
        return self.docker_config.get("auths", {})

    @property
    def url(self) -> str:
        return self._trait("url")

    def _derive_url(self) -> str:
        auths = self._auths()
        if not auths:
            return DOCKER_HUB_REGISTRY_URL
        first_key = next(iter(auths))
        candidate = first_key if "://" in first_key else "https://" + first_key
        return DOCKER_HUB_REGISTRY_URL if candidate == DOCKER_HUB_AUTH_KEY else candidate

    @property
    def auth_config_url(self) -> str:
        return self._trait("auth_config_url")

    def _derive_auth_config_url(self) -> str:
        url = self.url
        auths = self._auths()
        if url in auths:
            return url
        host = urlparse(url).hostname
        if host in auths:
            return host
        if host is None:
            raise UpstreamCrash(
                f"DockerRegistry.url {url!r} has no scheme, so it has no hostname "
                "(TypeError in BinderHub's auth_config_url default)"
            )
        if ("." + host).endswith((".docker.io", ".docker.com")):
            return DOCKER_HUB_AUTH_KEY
        return url

    def _auth_part(self, index: int, what: str) -> str:
        key = self.auth_config_url
        auths = self._auths()
        encoded = auths[key].get("auth") if key in auths else None
        if not encoded:
            self.log.append(f"No {what} for docker registry at {key}")
            return ""
        decoded = base64.b64decode(encoded.encode("utf-8")).decode("utf-8")
        pieces = decoded.split(":", 1)
        if len(pieces) <= index:
            raise UpstreamCrash(
                f"auths[{key!r}].auth decodes to a value without ':' (IndexError in BinderHub)"
            )
        return pieces[index]

    @property
    def username(self) -> str:
        return self._trait("username")

    def _derive_username(self) -> str:
        return self._auth_part(0, "username")

    @property
    def password(self) -> str:
        return self._trait("password")

    def _derive_password(self) -> str:
        return self._auth_part(1, "password")

    @property
    def token_url(self) -> str:
        return self._trait("token_url")

    def _derive_token_url(self) -> str:
        if self.is_google_artifact_registry:
            return GCE_METADATA_TOKEN_URL
        url = self.url
        host = urlparse(url).hostname
        if host is None:
            raise UpstreamCrash(
                f"DockerRegistry.url {url!r} has no scheme, so it has no hostname "
                "(TypeError in BinderHub's token_url default)"
            )
        if ("." + host).endswith(".gcr.io"):
            return f"https://{host}/v2/token?service={host}"
        if url.endswith(".docker.io"):
            return DOCKER_HUB_TOKEN_URL
        return ""

    @property
    def not_found_401(self) -> bool:
        return self._trait("not_found_401")

    def _derive_not_found_401(self) -> bool:
        return self.url.endswith(".docker.io")

    def resolved(self) -> dict[str, Any]:
        """All derived values at once (forces the lazy defaults)."""
        return {
            "registry_class": self.registry_class,
            "docker_config_path": self.docker_config_path,
            "url": self.url,
            "auth_config_url": self.auth_config_url,
            "token_url": self.token_url,
            "username": self.username,
            "password": self.password,
            "not_found_401": self.not_found_401,
            "image_prefix": self.image_prefix,
            "use_registry": self.use_registry,
        }

    # ----- HTTP ---------------------------------------------------------------------------

    def _fetch(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        basic: tuple[str, str] | None = None,
    ) -> httpx.Response:
        """One tornado ``fetch`` through the curl client; raises like ``raise_error=True``."""
        wire = {
            "Accept": CURL_DEFAULT_ACCEPT,
            "User-Agent": CURL_USER_AGENT,
            "Accept-Encoding": CURL_ACCEPT_ENCODING,
        }
        wire.update(headers or {})
        if basic is not None:
            wire["Authorization"] = basic_authorization(*basic)
        try:
            response = self._http.get(url, headers=wire)
        except httpx.TooManyRedirects as exc:
            raise RegistryHTTPError(599, url, None, f"too many redirects: {exc}") from exc
        except httpx.TransportError as exc:
            raise RegistryHTTPError(599, url, None, f"{type(exc).__name__}: {exc}") from exc
        response.read()
        if not 200 <= response.status_code < 300:
            raise RegistryHTTPError(response.status_code, str(response.url), response)
        return response

    def _get_token(self, token_url: str, service: str, scope: str) -> str:
        if self.is_google_artifact_registry:
            response = self._fetch(token_url, headers={"Metadata-Flavor": "Google"})
            fields = ("access_token",)
        else:
            response = self._fetch(
                url_concat(token_url, [("scope", scope), ("service", service)]),
                basic=(self.username, self.password),
            )
            fields = ("token", "access_token")
        try:
            body = json.loads(response.content.decode("utf-8", "replace"))
        except ValueError as exc:
            raise UpstreamCrash(f"token reply from {token_url} is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise UpstreamCrash(f"token reply from {token_url} is not a JSON object: {body!r}")
        for name in fields:
            if name in body:
                return body[name]
        raise UpstreamCrash(
            f"No token in response from registry (looked for {' or '.join(fields)}); "
            f"keys: {sorted(body)}"
        )

    @staticmethod
    def _manifest_json(response: httpx.Response) -> dict:
        try:
            return json.loads(response.content.decode("utf-8"))
        except ValueError as exc:
            raise UpstreamCrash(f"manifest body is not JSON: {exc}") from exc

    def get_image_manifest(self, image: str, tag: str) -> dict | None:
        """``DockerRegistry.get_image_manifest``: the manifest, or ``None`` for "not found".

        Raises :class:`RegistryHTTPError` where upstream raises an HTTP error (which BinderHub
        then logs and treats as "not found") and :class:`UpstreamCrash` where upstream raises
        anything else.
        """
        if self.registry_class == "binderhub.registry.FakeRegistry":
            return None
        try:
            return self._get_image_manifest(image, tag)
        except EmulationError:
            raise
        except Exception as exc:  # anything else escaping upstream would crash /build too
            raise UpstreamCrash(f"{type(exc).__name__}: {exc}") from exc

    def _get_image_manifest(self, image: str, tag: str) -> dict | None:
        manifest_url = f"{self.url}/v2/{image}/manifests/{tag}"
        headers = {"Accept": OCI_IMAGE_MANIFEST}
        basic = None
        token = None
        if self.token_url:
            token = self._get_token(
                self.token_url, service=TOKEN_SERVICE, scope=f"repository:{image}:pull"
            )
            headers["Authorization"] = f"Bearer {token}"
        else:
            basic = (self.username, self.password)  # htpasswd-style registries
        try:
            response = self._fetch(manifest_url, headers=headers, basic=basic)
        except RegistryHTTPError as err:
            if err.code == 404:
                return None
            if err.code == 401 and token and self.not_found_401:
                self.log.append(f"Interpreting 401 error as not found on {image}:{tag}")
                return None
            if err.code == 401 and not token and err.www_authenticate is not None:
                return self._manifest_via_challenge(err.www_authenticate, manifest_url)
            raise
        return self._manifest_json(response)

    def _manifest_via_challenge(self, challenge: str, manifest_url: str) -> dict | None:
        realm, service, scope = parse_bearer_challenge(challenge)
        token = self._get_token(realm, service=service, scope=scope)
        try:
            response = self._fetch(manifest_url, headers={"Authorization": f"Bearer {token}"})
        except RegistryHTTPError as err:
            if err.code == 404:
                return None
            raise
        return self._manifest_json(response)

    # ----- callers of get_image_manifest ----------------------------------------------

    def image_found(self, image_name: str) -> BuilderLookup:
        """BinderHub's build-handler decision for ``image_name`` (a full image spec).

        Up to 3 attempts; :class:`RegistryHTTPError` is collected and counts as "not found"
        (upstream logs it); :class:`UpstreamCrash` propagates (upstream: the request fails).
        """
        if not self.use_registry:
            raise NotImplementedError("use_registry=False checks the local docker daemon")
        image, tag = image_basename_and_tag(image_name)
        errors: list[RegistryHTTPError] = []
        for _ in range(3):
            try:
                manifest = self.get_image_manifest(image, tag)
            except RegistryHTTPError as err:
                errors.append(err)
                continue
            return BuilderLookup(found=bool(manifest), manifest=manifest, errors=errors)
        return BuilderLookup(found=False, errors=errors)

    def health_check(self) -> HealthResult:
        """The ``/health`` "Docker registry" check: any exception on all 3 attempts -> False."""
        image, tag = image_basename_and_tag(self.image_prefix + "some-image-name:12345")
        errors: list[Exception] = []
        for _ in range(3):
            try:
                self.get_image_manifest(image, tag)
            except Exception as exc:  # upstream: retry, then false_if_raises
                errors.append(exc)
                continue
            return HealthResult(ok=True, image=image, tag=tag, errors=errors)
        return HealthResult(ok=False, image=image, tag=tag, errors=errors)


# --------------------------------------------------------------------------------------------
# build pods
# --------------------------------------------------------------------------------------------


def build_pod_push_secret(config: Mapping[str, Any]) -> str | None:
    """Name of the Secret a build pod mounts for pushing, or ``None`` if none is mounted.

    ``KubernetesBuildExecutor.push_secret`` (default ``binder-build-docker-config``) wins over
    ``BuildExecutor.push_secret`` and the deprecated ``BinderHub.push_secret``; nothing is
    mounted when ``registry_credentials`` is set, when the name is empty, or when
    ``BinderHub.use_registry`` is false (BinderHub clears ``push_secret`` then).
    """
    binderhub = config.get("BinderHub") or {}
    if not binderhub.get("use_registry", True):
        return None
    kbe = config.get("KubernetesBuildExecutor") or {}
    base = config.get("BuildExecutor") or {}
    if kbe.get("registry_credentials") or base.get("registry_credentials"):
        return None
    if "push_secret" in kbe:
        name = kbe["push_secret"]
    elif "push_secret" in base:
        name = base["push_secret"]
    elif "push_secret" in binderhub and binderhub["push_secret"] != CHART_PUSH_SECRET:
        name = binderhub["push_secret"]  # deprecated alias, copied to BuildExecutor
    else:
        name = CHART_PUSH_SECRET
    return name or None


def build_pod_files(secret_data: Mapping[str, bytes]) -> dict[str, bytes]:
    """The build pod's view of the push Secret: key ``config.json`` via ``subPath``.

    Raises :class:`BuildPodStartError` if the key is missing: the ``subPath`` mount cannot be
    prepared and the pod never starts (``CreateContainerConfigError``).
    """
    if BUILD_POD_SECRET_KEY not in secret_data:
        raise BuildPodStartError(
            f"push Secret has no key {BUILD_POD_SECRET_KEY!r} (keys: {sorted(secret_data)}); "
            f"BinderHub mounts subPath {BUILD_POD_SECRET_KEY} at {BUILD_POD_DOCKER_CONFIG_PATH}, "
            "so the build pod would not start"
        )
    data = secret_data[BUILD_POD_SECRET_KEY]
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("Secret data values must be bytes (decoded from .data)")
    return {BUILD_POD_DOCKER_CONFIG_PATH: bytes(data)}


def build_pod_docker_config(secret_data: Mapping[str, bytes]) -> dict:
    """The parsed ``/root/.docker/config.json`` a build pod sees for this Secret's data."""
    raw = build_pod_files(secret_data)[BUILD_POD_DOCKER_CONFIG_PATH]
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise ValueError(f"{BUILD_POD_DOCKER_CONFIG_PATH} is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"{BUILD_POD_DOCKER_CONFIG_PATH} is not a JSON object")
    return parsed


def docker_push_credentials(config_json: Mapping[str, Any], image: str) -> tuple[str, str]:
    """(username, password) the docker client in a build pod uses to push ``image``.

    Uses docker-py's ``docker.auth`` (repo2docker's client): the image's registry comes from
    ``resolve_repository_name`` (``docker.io`` for Docker Hub names), then
    ``resolve_authconfig`` matches ``auths`` keys exactly or after stripping scheme and path.
    Raises ``LookupError`` if no usable entry exists (the push would be anonymous and fail)
    and ``ValueError`` for configs a build pod cannot use (credential helpers/stores).
    """
    import docker.auth

    if not config_json or not config_json.get("auths"):
        # load_config({}) would silently read this machine's own ~/.docker/config.json
        raise LookupError("docker config has no auths; the push would be anonymous")
    if config_json.get("credsStore") or config_json.get("credHelpers"):
        raise ValueError("credsStore/credHelpers need helper binaries a build pod does not have")
    registry, _ = docker.auth.resolve_repository_name(image)
    auth_config = docker.auth.load_config(config_dict=copy.deepcopy(dict(config_json)))
    entry = docker.auth.resolve_authconfig(auth_config, registry)
    if not entry:
        raise LookupError(
            f"no auths entry for registry {registry!r} (image {image!r}); "
            f"keys: {sorted(config_json['auths'])}"
        )
    if "IdentityToken" in entry:
        raise ValueError(f"auths entry for {registry!r} holds an identitytoken, not a password")
    return entry["username"], entry["password"]


# --------------------------------------------------------------------------------------------
# the binder pod as deployed by the BinderHub chart
# --------------------------------------------------------------------------------------------

# Only the chart defaults that matter for registry credentials.
BINDERHUB_CHART_DEFAULTS: dict[str, Any] = {
    "registry": {"url": None, "username": None, "password": None},
    "config": {"BinderHub": {"use_registry": True}, "KubernetesBuildExecutor": {}},
    "extraVolumes": [],
    "extraVolumeMounts": [],
    "extraEnv": {},
    "extraPodSpec": {},
}


def merge_helm_values(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict:
    """Helm's coalescing: maps merge recursively, user values win, a user ``null`` deletes."""
    merged: dict[str, Any] = copy.deepcopy(dict(defaults))
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_helm_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _go_json_pretty(obj: Any) -> str:
    # sprig toPrettyJson = json.MarshalIndent: sorted keys, two-space indent, HTML escaping
    text = json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _merge_keep_destination(dst: dict, src: Mapping[str, Any]) -> dict:
    # sprig merge: keys already in dst win, missing ones (recursively) come from src
    for key, value in src.items():
        if key not in dst:
            dst[key] = copy.deepcopy(value)
        elif isinstance(dst[key], dict) and isinstance(value, Mapping):
            _merge_keep_destination(dst[key], value)
    return dst


def chart_build_docker_config(values: Mapping[str, Any]) -> bytes:
    """``config.json`` of the chart's own Secret ``binder-build-docker-config``.

    Key: ``registry.url`` or ``https://index.docker.io/v1/``; username ``registry.username``,
    else ``_json_key`` only for exactly ``https://gcr.io``, else ``<token>``; a null password
    is rendered by Go as ``%!s(<nil>)``. ``config.BinderHub.buildDockerConfig`` is merged in.
    """
    registry = values.get("registry") or {}
    url = registry.get("url") or DOCKER_HUB_AUTH_KEY
    username = registry.get("username") or ("_json_key" if url == "https://gcr.io" else "<token>")
    password = registry.get("password")
    if password is None:
        password_text = "%!s(<nil>)"
    elif isinstance(password, str):
        password_text = password
    else:
        raise NotImplementedError("non-string registry.password is not emulated")
    auth = base64.b64encode(f"{username}:{password_text}".encode()).decode("ascii")
    document: dict[str, Any] = {"auths": {url: {"auth": auth}}}
    extra = ((values.get("config") or {}).get("BinderHub") or {}).get("buildDockerConfig")
    if extra:
        _merge_keep_destination(document, extra)
    return _go_json_pretty(document).encode("utf-8")


def _volume_files(
    volume: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, bytes]],
    config_maps: Mapping[str, Mapping[str, str]],
) -> dict[str, bytes]:
    """Files (path relative to the volume root) of one pod volume."""
    if "secret" in volume:
        source = volume["secret"]
        name = source.get("secretName")
        store: Mapping[str, Any] | None = secrets.get(name)
        kind = "Secret"
    elif "configMap" in volume:
        source = volume["configMap"]
        name = source.get("name")
        store = config_maps.get(name)
        kind = "ConfigMap"
    elif "emptyDir" in volume:
        return {}
    else:
        raise NotImplementedError(f"volume type of {volume.get('name')!r} is not emulated")
    optional = bool(source.get("optional"))
    if store is None:
        if optional:
            return {}
        raise BuildPodStartError(
            f"{kind} {name!r} used by volume {volume.get('name')!r} does not exist; "
            "the pod would stay in ContainerCreating"
        )

    def as_bytes(value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, str):
            return value.encode("utf-8")
        raise TypeError(f"{kind} {name!r} data must be bytes or str")

    items = source.get("items")
    if not items:
        return {key: as_bytes(value) for key, value in store.items()}
    projected = {}
    for item in items:
        key = item["key"]
        if key not in store:
            if optional:
                continue
            raise BuildPodStartError(f"{kind} {name!r} has no key {key!r} listed in items")
        projected[posixpath.normpath(item["path"])] = as_bytes(store[key])
    return projected


def binder_pod_files(
    values: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, bytes]] | None = None,
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
    *,
    merged: bool = False,
) -> dict[str, bytes]:
    """Files the binder container sees from the chart's registry mount and ``extraVolumes``.

    With ``config.BinderHub.use_registry`` (chart default true) the chart mounts its own
    Secret ``binder-build-docker-config`` as a directory at ``/root/.docker``; this is rendered
    with :func:`chart_build_docker_config` unless given in ``secrets``. ``extraVolumeMounts``
    of secret/configMap/emptyDir volumes are added (``items``, ``subPath``, ``optional``);
    deeper mount paths are layered over shallower ones, as container runtimes do.
    """
    effective = dict(values) if merged else merge_helm_values(BINDERHUB_CHART_DEFAULTS, values)
    secrets = dict(secrets or {})
    config_maps = dict(config_maps or {})
    volumes: dict[str, Mapping[str, Any]] = {}
    mounts: list[Mapping[str, Any]] = []
    if ((effective.get("config") or {}).get("BinderHub") or {}).get("use_registry"):
        secrets.setdefault(
            CHART_PUSH_SECRET, {BUILD_POD_SECRET_KEY: chart_build_docker_config(effective)}
        )
        volumes["docker-secret"] = {"name": "docker-secret", "secret": {"secretName": CHART_PUSH_SECRET}}
        mounts.append({"name": "docker-secret", "mountPath": CHART_DOCKER_CONFIG_MOUNT})
    for volume in effective.get("extraVolumes") or []:
        if volume["name"] in volumes:
            raise ValueError(f"duplicate volume name {volume['name']!r}")
        volumes[volume["name"]] = volume
    mounts.extend(effective.get("extraVolumeMounts") or [])

    seen_paths = set()
    for mount in mounts:
        path = posixpath.normpath(mount["mountPath"])
        if path in seen_paths:
            raise ValueError(f"mountPath {path} is used twice (rejected by the API server)")
        seen_paths.add(path)
        if "subPathExpr" in mount:
            raise NotImplementedError("subPathExpr is not emulated")

    files: dict[str, bytes] = {}
    for mount in sorted(mounts, key=lambda m: posixpath.normpath(m["mountPath"]).count("/")):
        name = mount["name"]
        if name not in volumes:
            raise ValueError(f"volumeMount {name!r} has no matching volume")
        content = _volume_files(volumes[name], secrets, config_maps)
        target = posixpath.normpath(mount["mountPath"])
        sub_path = mount.get("subPath")
        if sub_path:
            sub_path = posixpath.normpath(sub_path)
            if sub_path in content:
                content = {"": content[sub_path]}
            else:
                content = {
                    rel[len(sub_path) + 1 :]: data
                    for rel, data in content.items()
                    if rel.startswith(sub_path + "/")
                }
                if not content:
                    raise BuildPodStartError(
                        f"subPath {sub_path!r} of volume {name!r} does not exist in it"
                    )
        for existing in [p for p in files if p == target or p.startswith(target + "/")]:
            del files[existing]
        for rel, data in content.items():
            files[posixpath.join(target, rel) if rel else target] = data
    return files


def binder_pod_env(
    values: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, bytes]] | None = None,
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
    *,
    merged: bool = False,
) -> dict[str, str]:
    """``HOME`` and the ``extraEnv`` variables of the binder container.

    ``HOME`` is ``/root`` (the image runs as root); if ``extraPodSpec.securityContext.runAsUser``
    is a non-zero uid, the runtime sets ``HOME=/`` (no passwd entry in the image). ``extraEnv``
    may be a z2jh-style dict (name -> string, or name -> partial EnvVar) or a list of EnvVars;
    ``valueFrom`` supports ``secretKeyRef`` and ``configMapKeyRef``.
    """
    effective = dict(values) if merged else merge_helm_values(BINDERHUB_CHART_DEFAULTS, values)
    secrets = secrets or {}
    config_maps = config_maps or {}
    env: dict[str, str] = {"HOME": "/root"}
    uid = ((effective.get("extraPodSpec") or {}).get("securityContext") or {}).get("runAsUser")
    if uid not in (None, 0):
        env["HOME"] = "/"
    extra = effective.get("extraEnv") or {}
    if isinstance(extra, Mapping):
        entries = [
            {"name": k, "value": v} if not isinstance(v, Mapping) else {"name": k, **v}
            for k, v in extra.items()
        ]
    else:
        entries = list(extra)
    for entry in entries:
        name = entry["name"]
        if "value" in entry:
            if not isinstance(entry["value"], str):
                raise ValueError(f"extraEnv {name}: value must be a string")
            env[name] = entry["value"]
            continue
        ref = entry.get("valueFrom") or {}
        if "secretKeyRef" in ref:
            sel = ref["secretKeyRef"]
            data = (secrets.get(sel["name"]) or {}).get(sel["key"])
            if data is None:
                raise BuildPodStartError(f"extraEnv {name}: Secret key {sel} not found")
            env[name] = data.decode("utf-8") if isinstance(data, bytes) else data
        elif "configMapKeyRef" in ref:
            sel = ref["configMapKeyRef"]
            data = (config_maps.get(sel["name"]) or {}).get(sel["key"])
            if data is None:
                raise BuildPodStartError(f"extraEnv {name}: ConfigMap key {sel} not found")
            env[name] = data
        else:
            raise NotImplementedError(f"extraEnv {name}: {entry} is not emulated")
    return env
