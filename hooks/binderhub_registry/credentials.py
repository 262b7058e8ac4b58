"""The credentials the hook handles, and where one came from: plain data, importing nothing of
the package, so the release state, the cluster module and the providers all build on it."""

from __future__ import annotations

from dataclasses import dataclass

# A credential's origin, kept in the Secret's annotations (state.CREDENTIAL_ORIGIN): "created" when
# this tool minted it (and so may revoke it), "given" when it came from values or existingSecret.
CREATED = "created"
GIVEN = "given"

# The one declaration of which values are secret: the names a secret is kept under, wherever it
# is (registry.<type>.password and registry.google.key in values; password and key.json in the
# Secret registry.existingSecret names). Their values are redacted from every line the hook prints
# (values.secret_values, kube.KubeWriter.input_credentials) and never quoted in an error sentence
# (values.py, and the chart's _value_rules.tpl generated from it).
SECRET_NAMES = frozenset({"password", "key", "key.json"})


@dataclass(frozen=True)
class Credential:
    username: str
    password: str
    # Non-secret id of the credential (e.g. a service-account key id), for annotations.
    credential_id: str = ""
    created_at: str = ""
    # The credential this one replaces; it stays valid until the next rotation.
    previous_credential_id: str = ""
    origin: str = GIVEN  # CREATED or GIVEN


@dataclass(frozen=True)
class InputCredentials:
    """Credentials from registry.existingSecret, which take precedence over values."""

    username: str = ""
    password: str = ""
    key_json: str = ""
