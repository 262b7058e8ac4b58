"""Run the REAL CNCF distribution registry (Debian ``docker-registry``, 2.8.2) for tests.

Why this exists: the hook's push probe must be proven against a registry that enforces auth the
way real ones do, and no Docker engine or remote registry is reachable here. This module writes
its own config (the packaged /etc/docker/registry/config.yml is broken for auth) into a temporary
directory and runs ``docker-registry serve CONFIG`` on 127.0.0.1 with a free port, in one of
three auth modes:

* ``none``      - open registry;
* ``htpasswd``  - HTTP Basic against a bcrypt htpasswd file made with ``htpasswd -Bin``;
* ``token``     - Docker-style bearer tokens from a :class:`TokenServer` (realm, service, issuer,
  rootcertbundle are taken from it).

Plain http (``url`` = ``http://127.0.0.1:PORT``) or TLS with a freshly made self-signed
certificate (``url`` = ``https://…``; ``ca_cert_path`` is the certificate to trust, and not
trusting it makes verification fail, which tests use to check that such failures are reported).

Readiness is a bounded poll of ``GET /v2/`` (any HTTP answer counts); a registry that exits or
does not answer within ``startup_timeout`` raises :class:`RegistryStartError` carrying its log.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.stand_ins.token_server import TokenServer

AuthMode = Literal["none", "htpasswd", "token"]
REGISTRY_BINARY = "docker-registry"
HTPASSWD_BINARY = "htpasswd"


class RegistryStartError(RuntimeError):
    """The registry process exited or never answered; the message includes its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def htpasswd_line(user: str, password: str) -> str:
    """One bcrypt htpasswd line; the password goes through stdin, never argv."""
    proc = subprocess.run([HTPASSWD_BINARY, "-Bin", user], input=password, capture_output=True,
                          text=True, check=True)
    return proc.stdout.strip()


def write_self_signed_cert(cert_path: Path, key_path: Path, addresses: tuple[str, ...] = ()) -> None:
    """A P-256 self-signed server certificate for 127.0.0.1, localhost and ``addresses``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            *(x509.IPAddress(ipaddress.ip_address(address)) for address in ("127.0.0.1", *addresses))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


class Registry:
    """One ``docker-registry serve`` process. Use as a context manager or ``start()``/``stop()``.

    ``users`` is username -> password for ``htpasswd`` mode; in ``token`` mode the user table
    lives on ``token_server`` (see :attr:`credentials` for both).
    """

    def __init__(
        self,
        auth: AuthMode = "none",
        *,
        users: Mapping[str, str] | None = None,
        token_server: TokenServer | None = None,
        tls: bool = False,
        realm: str = "binderhub-registry-test",
        workdir: Path | None = None,
        startup_timeout: float = 10.0,
        address: str = "127.0.0.1",
    ) -> None:
        if auth == "token" and token_server is None:
            raise ValueError("auth='token' needs a running token_server")
        if auth not in ("none", "htpasswd", "token"):
            raise ValueError(f"unknown auth mode {auth!r}")
        self.auth: AuthMode = auth
        self.users: dict[str, str] = dict(users or {})
        self.token_server = token_server
        self.tls = tls
        self.realm = realm
        self.startup_timeout = startup_timeout
        self.address = address  # 127.0.0.1, or the test cluster node's address for pods to reach
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="registry-"))
        self.storage_dir = self.workdir / "storage"
        self.config_path = self.workdir / "config.yml"
        self.log_path = self.workdir / "registry.log"
        self.ca_cert_path: Path | None = self.workdir / "tls-cert.pem" if tls else None
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- addresses -------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """``ADDRESS:PORT``, as it appears in image names and docker config ``auths`` keys."""
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def credentials(self) -> dict[str, str]:
        """username -> password of every user that can log in, whatever the auth mode."""
        if self.auth == "token" and self.token_server is not None:
            return {u: e["password"] for u, e in self.token_server.users.items() if "password" in e}
        return dict(self.users)

    def password(self, username: str) -> str:
        return self.credentials[username]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Registry:
        """Write the config, start the process, and return once GET /v2/ answers. On failure
        everything is cleaned up and the error carries the registry's log."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Registry:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        if self.auth == "htpasswd":
            lines = [htpasswd_line(u, p) for u, p in self.users.items()]
            (self.workdir / "htpasswd").write_text("\n".join(lines) + "\n")
        if self.tls:
            write_self_signed_cert(self.workdir / "tls-cert.pem", self.workdir / "tls-key.pem")
        last_error: RegistryStartError | None = None
        for _ in range(3):  # the free port may be taken between probe and bind: retry
            self.port = free_port()
            self.config_path.write_text(self._config_yaml())
            try:
                self._spawn_and_wait()
                return self
            except RegistryStartError as exc:
                self._terminate()
                last_error = exc
                if "address already in use" not in str(exc):
                    break
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        self._terminate()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------
    def _config_yaml(self) -> str:
        # JSON-quoted scalars are valid YAML and keep paths and URLs safe.
        q = _quote
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  fields: {service: registry}",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {q(str(self.storage_dir))}",
            "  delete: {enabled: true}",
            "  maintenance:",
            "    uploadpurging: {enabled: false}",
            "http:",
            f"  addr: {q(self.host)}",
            f"  secret: {q(secrets.token_hex(16))}",
            "  headers:",
            "    X-Content-Type-Options: [nosniff]",
        ]
        if self.tls:
            lines += ["  tls:",
                      f"    certificate: {q(str(self.workdir / 'tls-cert.pem'))}",
                      f"    key: {q(str(self.workdir / 'tls-key.pem'))}"]
        lines += ["health:", "  storagedriver: {enabled: false}"]
        if self.auth == "htpasswd":
            lines += ["auth:", "  htpasswd:",
                      f"    realm: {q(self.realm)}",
                      f"    path: {q(str(self.workdir / 'htpasswd'))}"]
        elif self.auth == "token":
            ts = self.token_server
            assert ts is not None
            lines += ["auth:", "  token:",
                      f"    realm: {q(ts.realm)}",
                      f"    service: {q(ts.service)}",
                      f"    issuer: {q(ts.issuer)}",
                      f"    rootcertbundle: {q(str(ts.cert_path))}"]
        return "\n".join(lines) + "\n"

    def _spawn_and_wait(self) -> None:
        # distribution reads REGISTRY_* overrides from the environment: never inherit them.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RegistryStartError(
                    f"docker-registry exited with {self.process.returncode} before answering "
                    f"on {self.url}; log:\n{self.log_text()}")
            if self._answers():
                return
            time.sleep(0.01)  # bounded readiness poll, not test synchronisation
        raise RegistryStartError(f"docker-registry did not answer GET {self.url}/v2/ within "
                                 f"{self.startup_timeout:g} s; log:\n{self.log_text()}")

    def _answers(self) -> bool:
        """True once GET /v2/ gets any HTTP response (200 or 401)."""
        conn: http.client.HTTPConnection
        if self.tls:
            ctx = ssl.create_default_context(cafile=str(self.ca_cert_path))
            conn = http.client.HTTPSConnection(self.address, self.port, timeout=1, context=ctx)
        else:
            conn = http.client.HTTPConnection(self.address, self.port, timeout=1)
        try:
            conn.request("GET", "/v2/")
            return conn.getresponse().status in (200, 401)
        except OSError:
            return False
        finally:
            conn.close()

    def _terminate(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


def _quote(value: str) -> str:
    return json.dumps(value)


__all__ = ["AuthMode", "Registry", "RegistryStartError", "free_port", "htpasswd_line",
           "write_self_signed_cert"]
