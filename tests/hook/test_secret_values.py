"""Which values are secret is declared once (credentials.SECRET_NAMES): every value under that
name in values is registered for redaction before anything is printed, whatever the registry type,
and only those (a username stays readable in sentences)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

from binderhub_registry.values import chart_defaults, merge, secret_values

KEY_FILE = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE...\\n-----END PRIVATE KEY-----\\n"}'


def test_every_secret_written_in_values_is_found_and_nothing_else():
    values = merge(chart_defaults(), {"registry": {
        "generic": {"username": "robot", "password": "generic-pw-0123456789"},
        "dockerhub": {"username": "hubuser", "password": "dckr_pat_0123456789"},
        "google": {"key": KEY_FILE},
    }})
    assert sorted(secret_values(values)) == sorted(["generic-pw-0123456789", "dckr_pat_0123456789", KEY_FILE])



def test_a_secret_value_breaking_a_rule_is_never_quoted_whatever_the_rule():
    """Today's schema only asks a secret to be a non-empty string; a rule added tomorrow (a pattern,
    a length) still words its sentence without the value, while a username is quoted."""
    import jsonschema
    from binderhub_registry.values import describe_schema_error

    rule = {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8}
    schema = {"properties": {"registry": {"properties": {"generic": {"properties": {"password": rule, "username": rule}}}}}}
    values = {"registry": {"generic": {"username": "Robot-0123456789", "password": "Secret-0123456789"}}}
    sentences = [describe_schema_error(error, values) for error in jsonschema.Draft7Validator(schema).iter_errors(values)]
    assert len(sentences) == 4
    assert not any("Secret-0123456789" in sentence for sentence in sentences), sentences
    assert any("Robot-0123456789" in sentence for sentence in sentences), sentences


# In a process of its own, as the hook runs (the Kubernetes client reads KUBECONFIG once, at import).
READ_EXISTING_SECRET = """
import sys
from binderhub_registry.kube import KubeWriter
from binderhub_registry.progress import Progress
progress = Progress()
given = KubeWriter("binder").input_credentials("given", ("key.json", "password"), progress)
print(progress.redact(" ".join([given.username, given.password, given.key_json])))
"""


def test_the_secret_keys_of_an_existing_secret_are_redacted_and_its_username_is_not(kube_api, tmp_path):
    data = {"username": "robot-user", "password": "existing-pw-0123456789", "key.json": KEY_FILE}
    kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "given", "namespace": "binder"},
                  "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}})
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder")
    env = {key: value for key, value in os.environ.items() if key != "KUBERNETES_SERVICE_HOST"}
    proc = subprocess.run([sys.executable, "-c", READ_EXISTING_SECRET], capture_output=True, text=True, timeout=60,
                          env={**env, "KUBECONFIG": str(kubeconfig)})
    assert proc.returncode == 0, proc.stderr
    assert "robot-user" in proc.stdout and "existing-pw" not in proc.stdout and "MIIE" not in proc.stdout
