"""Unit tests pinning tests/stand_ins/binderhub_emulation.py to upstream BinderHub behaviour.

Each derivation rule and each step of the request sequence is one test; the upstream function
it mirrors is named in the emulation module's docstring. No network: httpx.MockTransport.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl

import httpx
import pytest

import tests.stand_ins.binderhub_emulation as bhe
from tests.stand_ins.binderhub_emulation import BinderHubRegistryClient

CONFIG_PATH = "/root/.docker/config.json"
MANIFEST = {"schemaVersion": 2, "mediaType": bhe.OCI_IMAGE_MANIFEST, "layers": []}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def docker_config(*entries: tuple[str, str]) -> bytes:
    """entries: (auths key, "user:password")"""
    return json.dumps({"auths": {key: {"auth": b64(cred)} for key, cred in entries}}).encode()


def make(config=None, files=None, env=None, handler=None, **kwargs) -> BinderHubRegistryClient:
    transport = httpx.MockTransport(handler or (lambda request: httpx.Response(500)))
    return BinderHubRegistryClient(config or {}, files or {}, env, transport=transport, **kwargs)


def with_auths(*entries, config=None, handler=None) -> BinderHubRegistryClient:
    return make(config, {CONFIG_PATH: docker_config(*entries)}, handler=handler)


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


class Registry:
    """A scripted registry: routes by path, records nothing itself (the client records)."""

    def __init__(self, routes):
        self.routes = routes

    def __call__(self, request: httpx.Request) -> httpx.Response:
        for (host, path), reply in self.routes.items():
            if request.url.host == host and request.url.path == path:
                return reply(request) if callable(reply) else reply
        return httpx.Response(599, text=f"unrouted {request.url}")


def token_reply(**body):
    return httpx.Response(200, json=body)


# ---------------------------------------------------------------------------------------------
# docker_config_path and loading
# ---------------------------------------------------------------------------------------------


def test_docker_config_path_defaults_to_home_dot_docker_config_json():
    assert make(env={"HOME": "/home/x"}).docker_config_path == "/home/x/.docker/config.json"


def test_default_env_is_root_home_like_the_binder_image():
    assert make().docker_config_path == CONFIG_PATH


def test_DOCKER_CONFIG_env_replaces_the_home_directory_default():
    client = make(env={"HOME": "/root", "DOCKER_CONFIG": "/etc/reg"})
    assert client.docker_config_path == "/etc/reg/config.json"


def test_explicit_docker_config_path_beats_DOCKER_CONFIG():
    client = make(
        {"DockerRegistry": {"docker_config_path": "/mnt/c.json"}},
        env={"DOCKER_CONFIG": "/etc/reg"},
    )
    assert client.docker_config_path == "/mnt/c.json"


def test_missing_config_file_gives_docker_hub_url_and_empty_credentials():
    client = make()
    assert client.url == "https://registry-1.docker.io"
    assert (client.username, client.password) == ("", "")
    assert "No docker config at /root/.docker/config.json" in client.log


def test_docker_config_path_pointing_at_a_directory_crashes():
    client = make(
        {"DockerRegistry": {"docker_config_path": "/etc/reg"}},
        {"/etc/reg/config.json": docker_config(("https://r.example", "u:p"))},
    )
    with pytest.raises(bhe.UpstreamCrash, match="directory"):
        _ = client.docker_config


def test_invalid_json_config_crashes():
    client = make(files={CONFIG_PATH: b"{not json"})
    with pytest.raises(bhe.UpstreamCrash, match="not valid JSON"):
        _ = client.docker_config


def test_config_file_is_not_read_when_no_default_needs_it():
    client = make(
        {"DockerRegistry": {"url": "https://r.example", "token_url": "", "username": "u",
                            "password": "p", "not_found_401": False}},
        {CONFIG_PATH: b"{broken"},
    )
    assert client.url == "https://r.example" and client.username == "u"
    assert "_docker_config" not in client._cache


# ---------------------------------------------------------------------------------------------
# url
# ---------------------------------------------------------------------------------------------


def test_url_is_the_first_auths_key_in_file_order():
    client = with_auths(("https://b.example", "u:p"), ("https://a.example", "v:q"))
    assert client.url == "https://b.example"


def test_scheme_less_first_key_gets_https_prepended():
    assert with_auths(("registry.example:5000", "u:p")).url == "https://registry.example:5000"


def test_http_scheme_in_first_key_is_kept():
    assert with_auths(("http://127.0.0.1:5000", "u:p")).url == "http://127.0.0.1:5000"


def test_index_docker_io_v1_key_maps_url_to_registry_1_docker_io():
    assert with_auths(("https://index.docker.io/v1/", "u:p")).url == "https://registry-1.docker.io"


def test_index_docker_io_v1_without_trailing_slash_is_used_verbatim_as_url():
    assert with_auths(("https://index.docker.io/v1", "u:p")).url == "https://index.docker.io/v1"


def test_empty_auths_gives_docker_hub_url():
    assert make(files={CONFIG_PATH: b'{"auths": {}}'}).url == "https://registry-1.docker.io"


def test_explicit_url_wins_over_config_json():
    client = with_auths(("https://a.example", "u:p"), config={"DockerRegistry": {"url": "https://b.example"}})
    assert client.url == "https://b.example"


# ---------------------------------------------------------------------------------------------
# auth_config_url and credentials
# ---------------------------------------------------------------------------------------------


def test_auth_config_url_is_the_url_when_the_url_is_an_auths_key():
    client = with_auths(("https://r.example:5000", "u:p"))
    assert client.auth_config_url == "https://r.example:5000"
    assert (client.username, client.password) == ("u", "p")


def test_auth_config_url_falls_back_to_the_bare_hostname_without_port():
    client = with_auths(
        ("r.example", "u:p"), config={"DockerRegistry": {"url": "https://r.example:5000"}}
    )
    assert client.auth_config_url == "r.example"
    assert client.username == "u"


def test_scheme_less_key_with_port_finds_no_credentials():
    client = with_auths(("r.example:5000", "u:p"))
    assert client.url == "https://r.example:5000"
    assert client.auth_config_url == "https://r.example:5000"
    assert (client.username, client.password) == ("", "")
    assert "No username for docker registry at https://r.example:5000" in client.log


def test_trailing_slash_in_key_is_not_an_exact_match_for_the_url():
    client = with_auths(
        ("https://r.example/", "u:p"), config={"DockerRegistry": {"url": "https://r.example"}}
    )
    assert client.auth_config_url == "https://r.example"
    assert client.username == ""


def test_docker_io_hosts_read_the_index_docker_io_v1_key():
    client = with_auths(("https://index.docker.io/v1/", "hubuser:pw"))
    assert client.auth_config_url == "https://index.docker.io/v1/"
    assert (client.username, client.password) == ("hubuser", "pw")


def test_docker_com_hosts_read_the_index_docker_io_v1_key():
    client = with_auths(
        ("https://index.docker.io/v1/", "hubuser:pw"),
        config={"DockerRegistry": {"url": "https://registry.hub.docker.com"}},
    )
    assert client.auth_config_url == "https://index.docker.io/v1/"


def test_unmatched_url_is_its_own_auth_config_url_and_credentials_are_empty():
    client = with_auths(
        ("https://a.example", "u:p"), config={"DockerRegistry": {"url": "https://b.example"}}
    )
    assert client.auth_config_url == "https://b.example"
    assert client.password == ""


def test_credentials_are_split_at_the_first_colon():
    client = with_auths(("https://r.example", "_json_key:{\"a\": \"b:c\"}"))
    assert client.username == "_json_key"
    assert client.password == '{"a": "b:c"}'


def test_username_and_password_fields_of_an_auths_entry_are_ignored():
    raw = json.dumps({"auths": {"https://r.example": {"username": "u", "password": "p"}}}).encode()
    client = make(files={CONFIG_PATH: raw})
    assert (client.username, client.password) == ("", "")


def test_explicit_username_and_password_override_config_json():
    client = with_auths(
        ("https://r.example", "u:p"),
        config={"DockerRegistry": {"username": "x", "password": "y"}},
    )
    assert (client.username, client.password) == ("x", "y")


def test_auth_without_colon_crashes_when_the_password_is_needed():
    client = with_auths(("https://r.example", "nocolon"))
    assert client.username == "nocolon"
    with pytest.raises(bhe.UpstreamCrash, match="without ':'"):
        _ = client.password


def test_url_without_scheme_crashes_the_auth_key_lookup():
    client = with_auths(("https://r.example", "u:p"), config={"DockerRegistry": {"url": "r.example"}})
    with pytest.raises(bhe.UpstreamCrash, match="no scheme"):
        _ = client.auth_config_url


# ---------------------------------------------------------------------------------------------
# token_url and not_found_401
# ---------------------------------------------------------------------------------------------


def test_docker_hub_gets_the_auth_docker_io_token_url():
    client = with_auths(("https://index.docker.io/v1/", "u:p"))
    assert client.token_url == "https://auth.docker.io/token?service=registry.docker.io"


def test_docker_hub_token_url_needs_the_url_string_to_end_with_docker_io():
    assert make({"DockerRegistry": {"url": "https://registry-1.docker.io/"}}).token_url == ""
    assert make({"DockerRegistry": {"url": "https://registry.hub.docker.com"}}).token_url == ""


def test_gcr_hosts_get_a_v2_token_url_on_their_own_host():
    assert make({"DockerRegistry": {"url": "https://gcr.io"}}).token_url == (
        "https://gcr.io/v2/token?service=gcr.io"
    )
    assert make({"DockerRegistry": {"url": "https://eu.gcr.io"}}).token_url == (
        "https://eu.gcr.io/v2/token?service=eu.gcr.io"
    )


def test_other_registries_have_an_empty_token_url():
    for url in ["https://x.azurecr.io", "https://europe-west1-docker.pkg.dev", "http://127.0.0.1:5000"]:
        assert make({"DockerRegistry": {"url": url}}).token_url == ""


def test_not_found_401_defaults_to_true_only_for_urls_ending_in_docker_io():
    assert make({"DockerRegistry": {"url": "https://registry-1.docker.io"}}).not_found_401 is True
    assert make({"DockerRegistry": {"url": "https://gcr.io"}}).not_found_401 is False
    assert make({"DockerRegistry": {"url": "https://registry.hub.docker.com"}}).not_found_401 is False


def test_google_artifact_registry_defaults_token_url_to_the_metadata_server():
    client = make({"BinderHub": {"registry_class": "binderhub.registry.GoogleArtifactRegistry"},
                   "DockerRegistry": {"url": "https://europe-docker.pkg.dev"}})
    assert client.token_url == bhe.GCE_METADATA_TOKEN_URL


def test_DockerRegistry_section_applies_to_subclasses_and_the_subclass_section_wins():
    client = make({
        "BinderHub": {"registry_class": "binderhub.registry.GoogleArtifactRegistry"},
        "DockerRegistry": {"url": "https://a.example", "token_url": "https://a.example/t"},
        "GoogleArtifactRegistry": {"url": "https://b.example"},
    })
    assert client.url == "https://b.example"
    assert client.token_url == "https://a.example/t"


# ---------------------------------------------------------------------------------------------
# config validation (traitlets)
# ---------------------------------------------------------------------------------------------


def test_null_trait_value_fails_at_startup_like_traitlets():
    with pytest.raises(bhe.UpstreamConfigError, match="null is not allowed"):
        make({"DockerRegistry": {"token_url": None}})


def test_non_boolean_not_found_401_fails_at_startup():
    with pytest.raises(bhe.UpstreamConfigError):
        make({"DockerRegistry": {"not_found_401": "yes"}})


def test_unknown_DockerRegistry_option_is_only_a_warning():
    client = make({"DockerRegistry": {"tokenUrl": "x"}})
    assert client.config_warnings == ["Config option `tokenUrl` not recognized by `DockerRegistry`."]


def test_unsupported_registry_class_is_refused():
    with pytest.raises(NotImplementedError):
        make({"BinderHub": {"registry_class": "binderhub.registry.ExternalRegistryHelper"}})


# ---------------------------------------------------------------------------------------------
# url_concat and small helpers
# ---------------------------------------------------------------------------------------------


def test_url_concat_appends_instead_of_replacing():
    assert bhe.url_concat("https://a/t?service=x", {"scope": "repository:p/i:pull", "service": "y"}) == (
        "https://a/t?service=x&scope=repository%3Ap%2Fi%3Apull&service=y"
    )


def test_url_concat_keeps_blank_query_values():
    assert bhe.url_concat("https://a/t?service=", [("a", "b")]) == "https://a/t?service=&a=b"


def test_basic_authorization_of_empty_credentials_is_a_lone_colon():
    assert bhe.basic_authorization("", "") == "Basic Og=="


def test_image_basename_strips_only_the_registry_host():
    assert bhe.image_basename_and_tag("r.example:5000/a/b/p-x:abc") == ("a/b/p-x", "abc")


def test_image_basename_keeps_docker_hub_shaped_names():
    assert bhe.image_basename_and_tag("hubuser/p-x:abc") == ("hubuser/p-x", "abc")


def test_image_basename_strips_a_hyphenated_docker_hub_namespace():
    assert bhe.image_basename_and_tag("my-org/p-x:abc") == ("p-x", "abc")


def test_image_basename_defaults_the_tag_to_latest():
    assert bhe.image_basename_and_tag("r.example/a/b") == ("a/b", "latest")


def test_builder_image_name_lowercases_and_replaces_underscores_in_the_prefix_too():
    assert bhe.builder_image_name("R.example/My_Proj/p-", "Repo_X", "abc") == "r.example/my-proj/p-repo-x:abc"


# ---------------------------------------------------------------------------------------------
# request sequence: token_url
# ---------------------------------------------------------------------------------------------


def token_registry(token_status=200, manifest_status=200, token_body=None):
    def manifest(request):
        if manifest_status == 200:
            return httpx.Response(200, json=MANIFEST)
        return httpx.Response(manifest_status, json={"errors": []})

    return Registry({
        ("auth.example", "/token"): httpx.Response(token_status, json=token_body or {"token": "T1"}),
        ("r.example", "/v2/proj/img/manifests/t1"): manifest,
    })


TOKEN_CONFIG = {"DockerRegistry": {"url": "https://r.example", "token_url": "https://auth.example/token"}}


def test_token_request_goes_to_token_url_with_basic_auth_scope_then_service():
    client = with_auths(("https://r.example", "u:p"), config=TOKEN_CONFIG, handler=token_registry())
    assert client.get_image_manifest("proj/img", "t1") == MANIFEST
    token_request = client.requests[0]
    assert str(token_request.url) == (
        "https://auth.example/token?scope=repository%3Aproj%2Fimg%3Apull&service=container_registry"
    )
    assert token_request.headers["Authorization"] == "Basic " + b64("u:p")
    assert token_request.headers["Accept"] == "*/*"
    assert token_request.headers["User-Agent"] == bhe.CURL_USER_AGENT


def test_token_url_with_a_service_query_ends_up_with_two_service_params():
    config = {"DockerRegistry": {"url": "https://r.example",
                                 "token_url": "https://auth.example/token?service=harbor-registry"}}
    client = with_auths(("https://r.example", "u:p"), config=config, handler=token_registry())
    client.get_image_manifest("proj/img", "t1")
    assert query(client.requests[0]) == [
        ("service", "harbor-registry"),
        ("scope", "repository:proj/img:pull"),
        ("service", "container_registry"),
    ]


def test_manifest_request_with_a_token_sends_bearer_and_the_oci_accept_header():
    client = with_auths(("https://r.example", "u:p"), config=TOKEN_CONFIG, handler=token_registry())
    client.get_image_manifest("proj/img", "t1")
    manifest_request = client.requests[1]
    assert str(manifest_request.url) == "https://r.example/v2/proj/img/manifests/t1"
    assert manifest_request.headers["Authorization"] == "Bearer T1"
    assert manifest_request.headers.get_list("Accept") == [bhe.OCI_IMAGE_MANIFEST]
    assert len(client.requests) == 2


def test_access_token_field_is_used_when_there_is_no_token_field():
    handler = token_registry(token_body={"access_token": "A1"})
    client = with_auths(("https://r.example", "u:p"), config=TOKEN_CONFIG, handler=handler)
    client.get_image_manifest("proj/img", "t1")
    assert client.requests[1].headers["Authorization"] == "Bearer A1"


def test_token_reply_without_a_token_is_an_uncaught_crash():
    handler = token_registry(token_body={"details": "nope"})
    client = with_auths(("https://r.example", "u:p"), config=TOKEN_CONFIG, handler=handler)
    with pytest.raises(bhe.UpstreamCrash, match="No token"):
        client.get_image_manifest("proj/img", "t1")


def test_rejected_token_request_is_an_http_error_that_binderhub_treats_as_not_found():
    handler = token_registry(token_status=401)
    client = with_auths(("https://r.example", "u:p"), config=TOKEN_CONFIG, handler=handler)
    with pytest.raises(bhe.RegistryHTTPError) as info:
        client.get_image_manifest("proj/img", "t1")
    assert info.value.code == 401 and "auth.example/token" in info.value.url
    assert "not found" in info.value.upstream_outcome


def test_404_with_a_token_means_not_found():
    client = with_auths(("https://r.example", "u:p"), config=TOKEN_CONFIG,
                        handler=token_registry(manifest_status=404))
    assert client.get_image_manifest("proj/img", "t1") is None


def test_401_with_a_token_and_not_found_401_means_not_found():
    config = {"DockerRegistry": {**TOKEN_CONFIG["DockerRegistry"], "not_found_401": True}}
    client = with_auths(("https://r.example", "u:p"), config=config,
                        handler=token_registry(manifest_status=401))
    assert client.get_image_manifest("proj/img", "t1") is None
    assert "Interpreting 401 error as not found on proj/img:t1" in client.log


def test_401_with_a_token_without_not_found_401_raises():
    client = with_auths(("https://r.example", "u:p"), config=TOKEN_CONFIG,
                        handler=token_registry(manifest_status=401))
    with pytest.raises(bhe.RegistryHTTPError) as info:
        client.get_image_manifest("proj/img", "t1")
    assert info.value.code == 401


def test_docker_hub_sequence_uses_auth_docker_io_and_registry_1():
    handler = Registry({
        ("auth.docker.io", "/token"): token_reply(token="H"),
        ("registry-1.docker.io", "/v2/hubuser/p-x/manifests/t"): httpx.Response(401),
    })
    client = with_auths(("https://index.docker.io/v1/", "hubuser:pw"), handler=handler)
    assert client.get_image_manifest("hubuser/p-x", "t") is None  # not_found_401
    assert query(client.requests[0]) == [
        ("service", "registry.docker.io"),
        ("scope", "repository:hubuser/p-x:pull"),
        ("service", "container_registry"),
    ]
    assert client.requests[0].headers["Authorization"] == "Basic " + b64("hubuser:pw")


# ---------------------------------------------------------------------------------------------
# request sequence: Basic auth and the WWW-Authenticate fallback
# ---------------------------------------------------------------------------------------------

BASIC_CONFIG = {"DockerRegistry": {"url": "https://r.example"}}


def test_without_token_url_the_manifest_request_uses_basic_auth_and_oci_accept():
    handler = Registry({("r.example", "/v2/proj/img/manifests/t1"): httpx.Response(200, json=MANIFEST)})
    client = with_auths(("https://r.example", "u:p"), handler=handler)
    assert client.get_image_manifest("proj/img", "t1") == MANIFEST
    (request,) = client.requests
    assert request.headers["Authorization"] == "Basic " + b64("u:p")
    assert request.headers.get_list("Accept") == [bhe.OCI_IMAGE_MANIFEST]


def test_empty_credentials_still_send_a_basic_header():
    handler = Registry({("r.example", "/v2/proj/img/manifests/t1"): httpx.Response(404)})
    client = make(BASIC_CONFIG, handler=handler)
    assert client.get_image_manifest("proj/img", "t1") is None
    assert client.requests[0].headers["Authorization"] == "Basic Og=="


CHALLENGE = 'Bearer realm="https://r.example/auth",service="r.example",scope="repository:proj/img:pull"'


def fallback_registry(second_status=200):
    def manifest(request):
        if request.headers.get("Authorization", "").startswith("Basic"):
            return httpx.Response(401, headers={"WWW-Authenticate": CHALLENGE})
        if second_status == 200:
            return httpx.Response(200, json=MANIFEST)
        return httpx.Response(second_status)

    return Registry({
        ("r.example", "/v2/proj/img/manifests/t1"): manifest,
        ("r.example", "/auth"): token_reply(token="F1"),
    })


def test_www_authenticate_fallback_gets_a_token_from_realm_and_retries_with_bearer():
    client = with_auths(("https://r.example", "u:p"), handler=fallback_registry())
    assert client.get_image_manifest("proj/img", "t1") == MANIFEST
    first, token_request, retry = client.requests
    assert first.headers["Authorization"] == "Basic " + b64("u:p")
    assert str(token_request.url).startswith("https://r.example/auth?")
    assert query(token_request) == [("scope", "repository:proj/img:pull"), ("service", "r.example")]
    assert token_request.headers["Authorization"] == "Basic " + b64("u:p")
    assert retry.headers["Authorization"] == "Bearer F1"


def test_fallback_requests_carry_only_curls_default_accept():
    client = with_auths(("https://r.example", "u:p"), handler=fallback_registry())
    client.get_image_manifest("proj/img", "t1")
    _, token_request, retry = client.requests
    assert token_request.headers.get_list("Accept") == ["*/*"]
    assert retry.headers.get_list("Accept") == ["*/*"]


def test_fallback_404_means_not_found():
    client = with_auths(("https://r.example", "u:p"), handler=fallback_registry(404))
    assert client.get_image_manifest("proj/img", "t1") is None


def test_fallback_401_raises_even_with_not_found_401():
    config = {"DockerRegistry": {"url": "https://r.example", "not_found_401": True}}
    client = with_auths(("https://r.example", "u:p"), config=config, handler=fallback_registry(401))
    with pytest.raises(bhe.RegistryHTTPError):
        client.get_image_manifest("proj/img", "t1")


def test_basic_challenge_is_an_uncaught_crash():
    handler = Registry({("r.example", "/v2/proj/img/manifests/t1"):
                        httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'})})
    client = with_auths(("https://r.example", "u:wrong"), handler=handler)
    with pytest.raises(bhe.UpstreamCrash, match="Bearer") as info:
        client.get_image_manifest("proj/img", "t1")
    assert "/build request fails" in info.value.upstream_outcome


def test_bearer_challenge_without_scope_is_an_uncaught_crash():
    challenge = 'Bearer realm="https://r.example/auth",service="r.example"'
    handler = Registry({("r.example", "/v2/proj/img/manifests/t1"):
                        httpx.Response(401, headers={"WWW-Authenticate": challenge})})
    client = with_auths(("https://r.example", "u:p"), handler=handler)
    with pytest.raises(bhe.UpstreamCrash, match="missing scope"):
        client.get_image_manifest("proj/img", "t1")


def test_401_without_www_authenticate_raises():
    handler = Registry({("r.example", "/v2/proj/img/manifests/t1"): httpx.Response(401)})
    client = with_auths(("https://r.example", "u:p"), handler=handler)
    with pytest.raises(bhe.RegistryHTTPError) as info:
        client.get_image_manifest("proj/img", "t1")
    assert info.value.code == 401


def test_server_error_raises_with_status_and_body():
    handler = Registry({("r.example", "/v2/proj/img/manifests/t1"): httpx.Response(500, text="boom")})
    client = with_auths(("https://r.example", "u:p"), handler=handler)
    with pytest.raises(bhe.RegistryHTTPError, match="boom") as info:
        client.get_image_manifest("proj/img", "t1")
    assert info.value.code == 500


def test_connection_failure_is_reported_as_code_599():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    client = with_auths(("https://r.example", "u:p"), handler=refuse)
    with pytest.raises(bhe.RegistryHTTPError) as info:
        client.get_image_manifest("proj/img", "t1")
    assert info.value.code == 599


# ---------------------------------------------------------------------------------------------
# registry classes
# ---------------------------------------------------------------------------------------------


def test_google_artifact_registry_token_comes_from_the_metadata_server():
    handler = Registry({
        ("metadata.google.internal", "/computeMetadata/v1/instance/service-accounts/default/token"):
            token_reply(access_token="G1", token="ignored"),
        ("europe-docker.pkg.dev", "/v2/proj/repo/p-x/manifests/t"): httpx.Response(200, json=MANIFEST),
    })
    client = make({"BinderHub": {"registry_class": "binderhub.registry.GoogleArtifactRegistry"},
                   "DockerRegistry": {"url": "https://europe-docker.pkg.dev"}}, handler=handler)
    assert client.get_image_manifest("proj/repo/p-x", "t") == MANIFEST
    token_request, manifest_request = client.requests
    assert str(token_request.url) == bhe.GCE_METADATA_TOKEN_URL
    assert token_request.headers["Metadata-Flavor"] == "Google"
    assert "Authorization" not in token_request.headers
    assert manifest_request.headers["Authorization"] == "Bearer G1"


def test_fake_registry_finds_nothing_and_sends_nothing():
    client = make({"BinderHub": {"registry_class": "binderhub.registry.FakeRegistry"}})
    assert client.get_image_manifest("a/b", "c") is None
    assert client.requests == []


# ---------------------------------------------------------------------------------------------
# callers: build handler and health check
# ---------------------------------------------------------------------------------------------


def test_builder_lookup_retries_three_times_and_then_counts_http_errors_as_not_found():
    handler = Registry({("r.example", "/v2/proj/p-x/manifests/t"): httpx.Response(503)})
    client = with_auths(("https://r.example", "u:p"), handler=handler)
    lookup = client.image_found("r.example/proj/p-x:t")
    assert lookup.found is False
    assert [e.code for e in lookup.errors] == [503, 503, 503]


def test_builder_lookup_finds_an_existing_image():
    handler = Registry({("r.example", "/v2/proj/p-x/manifests/t"): httpx.Response(200, json=MANIFEST)})
    client = with_auths(("https://r.example", "u:p"), handler=handler)
    assert client.image_found("r.example/proj/p-x:t").found is True


def test_health_check_looks_up_some_image_name_under_the_image_prefix():
    handler = Registry({("r.example", "/v2/proj/p-some-image-name/manifests/12345"): httpx.Response(404)})
    client = with_auths(("https://r.example", "u:p"), handler=handler,
                        config={"BinderHub": {"image_prefix": "r.example/proj/p-"}})
    result = client.health_check()
    assert result.ok and (result.image, result.tag) == ("proj/p-some-image-name", "12345")


def test_health_check_is_false_when_every_attempt_raises():
    handler = Registry({})
    client = with_auths(("https://r.example", "u:p"), handler=handler,
                        config={"BinderHub": {"image_prefix": "r.example/proj/p-"}})
    result = client.health_check()
    assert not result.ok and len(result.errors) == 3


# ---------------------------------------------------------------------------------------------
# build pods and pushing
# ---------------------------------------------------------------------------------------------


def test_build_pod_sees_the_config_json_key_at_root_docker_config_json():
    data = {"config.json": docker_config(("https://r.example", "u:p"))}
    assert bhe.build_pod_files(data).keys() == {"/root/.docker/config.json"}
    assert bhe.build_pod_docker_config(data)["auths"]["https://r.example"]["auth"] == b64("u:p")


def test_build_pod_does_not_start_without_a_config_json_key():
    with pytest.raises(bhe.BuildPodStartError, match="config.json"):
        bhe.build_pod_docker_config({".dockerconfigjson": b"{}"})


def test_push_secret_defaults_to_the_chart_secret_name():
    assert bhe.build_pod_push_secret({}) == "binder-build-docker-config"


def test_KubernetesBuildExecutor_push_secret_wins():
    config = {"KubernetesBuildExecutor": {"push_secret": "ours"}, "BuildExecutor": {"push_secret": "x"}}
    assert bhe.build_pod_push_secret(config) == "ours"


def test_registry_credentials_or_use_registry_false_mount_no_push_secret():
    assert bhe.build_pod_push_secret({"KubernetesBuildExecutor": {"registry_credentials": {"a": 1}}}) is None
    assert bhe.build_pod_push_secret({"BinderHub": {"use_registry": False}}) is None


def test_push_to_a_registry_with_port_matches_a_key_with_scheme():
    config = json.loads(docker_config(("http://127.0.0.1:5000", "u:p")))
    assert bhe.docker_push_credentials(config, "127.0.0.1:5000/proj/p-x:abc") == ("u", "p")


def test_docker_hub_push_uses_the_index_docker_io_v1_key():
    config = json.loads(docker_config(("https://index.docker.io/v1/", "hubuser:pw")))
    assert bhe.docker_push_credentials(config, "hubuser/p-x:abc") == ("hubuser", "pw")


def test_docker_hub_push_does_not_use_a_registry_1_docker_io_key():
    config = json.loads(docker_config(("https://registry-1.docker.io", "hubuser:pw")))
    with pytest.raises(LookupError):
        bhe.docker_push_credentials(config, "hubuser/p-x:abc")


def test_push_credentials_need_an_auths_entry():
    with pytest.raises(LookupError):
        bhe.docker_push_credentials({}, "r.example/p:x")


# ---------------------------------------------------------------------------------------------
# binder pod as deployed by the chart
# ---------------------------------------------------------------------------------------------


def test_chart_secret_defaults_to_token_username_and_go_nil_password():
    rendered = json.loads(bhe.chart_build_docker_config({}))
    assert rendered == {"auths": {"https://index.docker.io/v1/": {"auth": b64("<token>:%!s(<nil>)")}}}


def test_chart_secret_uses_json_key_only_for_exactly_https_gcr_io():
    gcr = json.loads(bhe.chart_build_docker_config({"registry": {"url": "https://gcr.io", "password": "k"}}))
    eu = json.loads(bhe.chart_build_docker_config({"registry": {"url": "https://eu.gcr.io", "password": "k"}}))
    assert gcr["auths"]["https://gcr.io"]["auth"] == b64("_json_key:k")
    assert eu["auths"]["https://eu.gcr.io"]["auth"] == b64("<token>:k")


def test_without_our_mount_the_binder_pod_reads_the_chart_secret():
    client = BinderHubRegistryClient.from_helm_values({}, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    assert client.url == "https://registry-1.docker.io"
    assert (client.username, client.password) == ("<token>", "%!s(<nil>)")


def test_extra_volume_mount_puts_our_secret_at_docker_config_path():
    values = {
        "config": {"DockerRegistry": {"docker_config_path": "/etc/bhr/config.json",
                                      "url": "https://r.example"}},
        "extraVolumes": [{"name": "bhr", "secret": {"secretName": "bhr-push"}}],
        "extraVolumeMounts": [{"name": "bhr", "mountPath": "/etc/bhr", "readOnly": True}],
    }
    secrets = {"bhr-push": {"config.json": docker_config(("https://r.example", "u:p"))}}
    files = bhe.binder_pod_files(values, secrets)
    assert set(files) == {"/root/.docker/config.json", "/etc/bhr/config.json"}
    client = BinderHubRegistryClient.from_helm_values(values, secrets)
    assert (client.username, client.password) == ("u", "p")


def test_missing_secret_for_an_extra_volume_stops_the_binder_pod():
    values = {"extraVolumes": [{"name": "bhr", "secret": {"secretName": "absent"}}],
              "extraVolumeMounts": [{"name": "bhr", "mountPath": "/etc/bhr"}]}
    with pytest.raises(bhe.BuildPodStartError, match="absent"):
        bhe.binder_pod_files(values, {})


def test_sub_path_mount_over_the_chart_directory_replaces_its_config_json():
    values = {
        "extraVolumes": [{"name": "bhr", "secret": {"secretName": "s"}}],
        "extraVolumeMounts": [{"name": "bhr", "mountPath": "/root/.docker/config.json",
                               "subPath": "config.json"}],
    }
    ours = docker_config(("https://r.example", "u:p"))
    files = bhe.binder_pod_files(values, {"s": {"config.json": ours}})
    assert files == {"/root/.docker/config.json": ours}


def test_extra_env_DOCKER_CONFIG_redirects_the_config_lookup():
    values = {
        "extraEnv": {"DOCKER_CONFIG": "/etc/bhr"},
        "extraVolumes": [{"name": "bhr", "secret": {"secretName": "s"}}],
        "extraVolumeMounts": [{"name": "bhr", "mountPath": "/etc/bhr"}],
    }
    secrets = {"s": {"config.json": docker_config(("https://r.example", "u:p"))}}
    client = BinderHubRegistryClient.from_helm_values(values, secrets)
    assert client.docker_config_path == "/etc/bhr/config.json"
    assert client.url == "https://r.example" and client.username == "u"


def test_non_root_run_as_user_moves_home_to_slash():
    env = bhe.binder_pod_env({"extraPodSpec": {"securityContext": {"runAsUser": 1000}}})
    assert env["HOME"] == "/"
