"""Each Google private key is validated once: cryptography's RSA key check (~40 ms a key) runs
the first time a key is seen; the Secret records the SHA-256 digests of the keys a run loaded
(admin and builder), and a later run loading exactly the same bytes skips the check. Against the
real google-auth and cryptography, and the Google stand-ins."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import google.auth
import pytest
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.progress import Progress
from binderhub_registry.providers.google.admin import admin_identity
from binderhub_registry.providers.google.api import CLOUD_PLATFORM
from binderhub_registry.providers.google.signing_keys import SigningKeys
from binderhub_registry.state import DEPLOYMENT_FINGERPRINT, FINGERPRINT, VALIDATED_KEYS
from cryptography.hazmat.primitives import serialization
from google.oauth2 import service_account

from tests.fixtures_google import AR_HOST, AR_REPOSITORY, google_values
from tests.helpers import binder_deployment, run_cli, secret_docker_config, secret_key_file, write_values

NS = "binder"
INVALID_KEY = ("The service account key is not a valid Google key file (its private_key is not a valid RSA private key); "
               "use the JSON key file Google issued.")


def digest(info: dict[str, Any]) -> str:
    return hashlib.sha256(info["private_key"].encode()).hexdigest()


def inconsistent(info: dict[str, Any]) -> dict[str, Any]:
    """The same key file with p and q swapped in its private key (PKCS#1): n = p*q still holds,
    but its CRT values no longer match, so OpenSSL's RSA key check refuses it."""
    numbers = serialization.load_pem_private_key(info["private_key"].encode(), None).private_numbers()  # type: ignore[union-attr]
    public = numbers.public_numbers
    fields = (0, public.n, public.e, numbers.d, numbers.q, numbers.p, numbers.dmp1, numbers.dmq1, numbers.iqmp)
    der = _der(0x30, b"".join(_der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big")) for value in fields))
    body = base64.encodebytes(der).decode()
    return {**info, "private_key": f"-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----\n"}


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    length = (
        bytes([size]) if size < 128 else bytes([0x80 | ((size.bit_length() + 7) // 8)]) + size.to_bytes((size.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + content


def secret(kube_api) -> dict[str, Any]:
    return kube_api.get("secrets", NS, "binderhub-registry")


def recorded(kube_api) -> set[str]:
    return set(secret(kube_api)["metadata"]["annotations"].get(VALIDATED_KEYS, "").split(",")) - {""}


def admin_key_secret(kube_api, info: dict[str, Any], name: str = "google-admin") -> None:
    kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
                  "data": {"key.json": base64.b64encode(json.dumps(info).encode()).decode()}})


@pytest.fixture
def provision(kube_api, tmp_path, google_cloud, google_registry):
    """provision as the hook Job runs it, applying to the stand-in cluster (BinderHub's Deployment exists)."""
    kube_api.put(binder_deployment(NS))
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, NS)
    registry = google_registry(AR_HOST)

    def run(*extra: str, env: dict[str, str] | None = None, values: dict[str, Any] | None = None, **google: Any):
        chart_values = {**google_values(google_cloud, registry, **google), **(values or {})}
        return run_cli("provision", "--values", str(write_values(tmp_path / "values.yaml", chart_values)), *extra,
                       env={"KUBECONFIG": str(kubeconfig), **(env or {})})
    return run


def test_a_run_records_both_keys_and_a_rerun_keeps_them_without_writes_or_restarting_binderhub(provision, kube_api, google_cloud,
                                                                                              google_adc):
    first = provision()
    assert first.code == 0, first.stderr
    builder = secret_key_file(secret(kube_api))
    assert recorded(kube_api) == {digest(google_adc.key_info), digest(builder)}
    fingerprint = secret(kube_api)["metadata"]["annotations"][FINGERPRINT]
    writes = len(google_cloud.state.writes())

    again = provision("--log-format", "json")
    assert again.code == 0, again.stderr
    assert recorded(kube_api) == {digest(google_adc.key_info), digest(builder)}
    assert secret_key_file(secret(kube_api)) == builder
    assert secret(kube_api)["metadata"]["annotations"][FINGERPRINT] == fingerprint
    template = kube_api.get("deployments", NS, "binder")["spec"]["template"]["metadata"]["annotations"]
    assert template[DEPLOYMENT_FINGERPRINT] == fingerprint
    assert json.loads(again.stderr.splitlines()[-1])["restarted"] == []
    assert len(google_cloud.state.writes()) == writes
    for result in (first, again):  # the digests are state, not output
        assert not any(d in result.stdout + result.stderr for d in recorded(kube_api))


def test_a_builder_key_whose_bytes_changed_is_validated_again_and_refused_when_inconsistent(provision, kube_api, google_adc):
    assert provision().code == 0
    stored = secret(kube_api)
    broken = inconsistent(secret_key_file(stored))  # same key id and account; the Secret still records the old bytes
    config = secret_docker_config(stored)
    for auth in config["auths"].values():
        auth["auth"] = base64.b64encode(f"_json_key:{json.dumps(broken)}".encode()).decode()
    encoded = base64.b64encode(json.dumps(config).encode()).decode()
    kube_api.put({**stored, "data": {".dockerconfigjson": encoded, "config.json": encoded}})

    result = provision()
    assert result.code == 2
    assert result.last_line.endswith(INVALID_KEY)
    assert broken["private_key"].splitlines()[1] not in result.stderr


@pytest.mark.parametrize("where", ["GOOGLE_APPLICATION_CREDENTIALS", "adminKeySecret"])
def test_an_inconsistent_admin_key_is_refused_with_exit_2_in_one_sentence(provision, kube_api, google_admin, tmp_path, where):
    broken = inconsistent(google_admin.key_info)
    if where == "adminKeySecret":
        admin_key_secret(kube_api, broken)
        result = provision(adminKeySecret="google-admin")
    else:
        key_file = tmp_path / "broken-admin.json"
        key_file.write_text(json.dumps(broken))
        result = provision(env={"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})
    assert result.code == 2
    assert result.last_line.endswith(INVALID_KEY)
    assert secret(kube_api) is None


def test_rotation_replaces_the_builder_digest(provision, kube_api, google_adc):
    assert provision().code == 0
    old = secret_key_file(secret(kube_api))
    rotated = provision(values={"rotation": {"trigger": "rotate-now"}})
    assert rotated.code == 0, rotated.stderr
    new = secret_key_file(secret(kube_api))
    assert new["private_key_id"] != old["private_key_id"]
    assert recorded(kube_api) == {digest(google_adc.key_info), digest(new)}


def test_switching_admin_keys_replaces_the_admin_digest(provision, kube_api, google_adc, make_google_principal):
    assert provision().code == 0
    builder = secret_key_file(secret(kube_api))
    other = make_google_principal("other-admin")
    admin_key_secret(kube_api, other.key_info)
    switched = provision(adminKeySecret="google-admin")
    assert switched.code == 0, switched.stderr
    assert recorded(kube_api) == {digest(other.key_info), digest(builder)}


def test_validate_mode_records_its_key_where_state_is_kept_and_prints_none(provision, kube_api, google_cloud, make_google_principal):
    builder = make_google_principal("manual-builder", roles=[])
    google_cloud.state.add_repository("binder-test", "us-central1", "binder")
    google_cloud.state.grant_repository_role(AR_REPOSITORY, builder.email, "roles/artifactregistry.writer")
    key = json.dumps(builder.key_info)
    applied = provision(mode="validate", key=key)
    assert applied.code == 0, applied.stderr
    assert recorded(kube_api) == {digest(builder.key_info)}

    printed = provision("--output", "-", mode="validate", key=key)
    assert printed.code == 0, printed.stderr
    (printed_secret,) = [doc for doc in printed.documents() if doc["kind"] == "Secret" and not doc["metadata"]["name"].endswith("-pull")]
    assert VALIDATED_KEYS not in printed_secret["metadata"]["annotations"]


# -- the loader against google-auth's own constructors (in process) ------------------------------


def comparable(credentials: Any) -> dict[str, Any]:
    """What google-auth's service account credentials hold: the signer by its key id and key, the
    per-instance helpers (refresh thread, access boundary) by their type, not the file's path
    (default() notes it for messages)."""
    per_instance = ("_refresh_worker", "_rab_manager")
    state = {k: type(v) if k in per_instance else v for k, v in vars(credentials).items() if k not in ("_signer", "_cred_file_path")}
    signer = credentials._signer
    private = signer._impl._key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {**state, "signer": (type(signer), signer.key_id, private)}


def test_signing_keys_build_what_from_service_account_info_builds(google_admin):
    plain = google_admin.key_info
    other_universe = {**plain, "universe_domain": "example.com", "trust_boundary": {"locations": ["us"], "encodedLocations": "0x1"}}
    for info in (plain, other_universe):
        expected = service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM])
        assert comparable(SigningKeys().credentials(info)) == comparable(expected)
        assert comparable(SigningKeys([digest(info)]).credentials(info)) == comparable(expected)


def test_only_a_key_recorded_as_validated_skips_the_check(google_admin):
    broken = inconsistent(google_admin.key_info)
    with pytest.raises(InvalidConfiguration) as refused:
        SigningKeys([digest(google_admin.key_info)]).credentials(broken)
    assert refused.value.message == INVALID_KEY
    # the documented trade-off: bytes recorded as validated are trusted without the check
    SigningKeys([digest(broken)]).credentials(broken)
    keys = SigningKeys()
    keys.credentials(google_admin.key_info)
    assert keys.loaded == (digest(google_admin.key_info),)


# A PKCS#8 EC key on secp112r1, a curve cryptography does not support (UnsupportedAlgorithm, not ValueError).
UNSUPPORTED_CURVE_KEY = """-----BEGIN PRIVATE KEY-----
ME4CAQAwEAYHKoZIzj0CAQYFK4EEAAYENzA1AgEBBA6ArkWKk2y/iJsdAbJvxqEg
Ax4ABA0fVy44j04/qfr6m/6CtnvayvQp2TkJe+ByW3U=
-----END PRIVATE KEY-----
"""


def test_a_private_key_of_an_unsupported_kind_is_refused_in_one_sentence(google_admin):
    with pytest.raises(InvalidConfiguration) as refused:
        SigningKeys().credentials({**google_admin.key_info, "private_key": UNSUPPORTED_CURVE_KEY})
    assert refused.value.message == INVALID_KEY


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"GOOGLE_CLOUD_PROJECT": "elsewhere"},
        {"GCLOUD_PROJECT": "legacy"},
        {"GOOGLE_CLOUD_QUOTA_PROJECT": "billing"},
        {"CLOUDSDK_CONFIG": "gcloud"},
    ],
)
def test_a_key_file_in_google_application_credentials_gives_what_google_auth_default_gives(google_admin, monkeypatch, tmp_path,
                                                                                           environment):
    key_file = google_admin.key_file
    for name in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GOOGLE_CLOUD_QUOTA_PROJECT", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    if "CLOUDSDK_CONFIG" in environment:  # gcloud's own file: default() reads it (and its project) the gcloud way
        gcloud = tmp_path / "gcloud"
        gcloud.mkdir()
        key_file = gcloud / "application_default_credentials.json"
        key_file.write_text(google_admin.key_file.read_text())
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(gcloud))
        monkeypatch.setenv("PATH", str(tmp_path))  # no gcloud to ask for a project
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    expected, expected_project = google.auth.default(scopes=[CLOUD_PLATFORM])
    admin = admin_identity("", None, Progress(), SigningKeys())
    assert comparable(admin.credentials) == comparable(expected)
    assert admin.project == (expected_project or "")
