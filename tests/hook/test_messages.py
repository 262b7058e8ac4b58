"""Failure sentences say what is wrong and what to do, for the case at hand: the hint without a
cluster fits the command (never "print with --output -" to someone who did, when the problem is
reading registry.existingSecret); schema errors name the field and never quote a secret or a
wrongly typed value; no placeholder text."""

from __future__ import annotations

import pytest

from tests.helpers import generic_values, run_cli, write_values

URL = "https://registry.example.org"
NO_CLUSTER = {"KUBECONFIG": "/nonexistent/kubeconfig", "KUBERNETES_SERVICE_HOST": ""}


def cli(tmp_path, values, *args):
    return run_cli(*args, "--values", str(write_values(tmp_path / "values.yaml", values)), env=NO_CLUSTER)


def test_provision_printing_with_an_existing_secret_and_no_cluster_blames_reading_the_secret(tmp_path):
    values = generic_values(URL, "alice", "")
    values["registry"]["existingSecret"] = "my-registry-credentials"
    result = cli(tmp_path, values, "provision", "--output", "-")
    assert result.code == 2, result.stderr
    assert "registry.existingSecret" in result.last_line
    assert "--output" not in result.last_line


@pytest.mark.parametrize(("args", "hint"), [
    (("provision",), "or print the objects with --output -."),
    (("check",), "or pass the config.json to check with --docker-config."),
    (("cleanup",), "run in the cluster or set KUBECONFIG."),
])
def test_without_a_cluster_each_command_says_what_else_to_do(tmp_path, args, hint):
    result = cli(tmp_path, generic_values(URL, "alice", "some-password-1"), *args)
    assert result.code == 2, result.stderr
    assert result.last_line.startswith("error: No Kubernetes cluster configured (")
    assert result.last_line.endswith(hint)


CANARY = "canary-Zk7Q9"


@pytest.mark.parametrize(("password", "sentence"), [
    ([CANARY, "x"], "error: registry.generic.password must be of type string, not array."),
    ({"value": CANARY}, "error: registry.generic.password must be of type string, not object."),
    (987654321987, "error: registry.generic.password must be of type string, not integer."),
])
def test_a_password_of_the_wrong_type_is_named_never_quoted(tmp_path, password, sentence):
    result = cli(tmp_path, generic_values(URL, "alice", password), "render")
    assert result.code == 2
    assert result.last_line == sentence
    assert CANARY not in result.stderr and "987654321987" not in result.stderr


def test_an_empty_required_value_names_the_registry_type_not_a_placeholder(tmp_path):
    values = generic_values(URL, "", "some-password-1")
    result = cli(tmp_path, values, "render")
    assert result.code == 2
    assert result.last_line == "error: registry.generic.username must be set for registry.type=generic."


def test_a_sentence_quoting_a_value_stays_one_line_whatever_control_characters_it_holds():
    """Carriage returns and terminal escapes from a file or a server are written as escapes: they
    could otherwise rewrite the log line (or a terminal) a person reads."""
    from binderhub_registry.errors import InvalidConfiguration  # noqa: PLC0415

    message = InvalidConfiguration("Secret 'a\rb\x1b[2Jc\nd' is odd; fix it.").message
    assert message == "Secret 'a\\rb\\x1b[2Jc\\nd' is odd; fix it."
    assert all(char.isprintable() for char in message)


def test_an_unexpected_error_names_its_class_never_its_text(tmp_path, capsys, monkeypatch):
    """A bug's exception text can hold anything (a URL with a token, a server's answer): only
    its class is printed, and --debug adds the traceback."""
    from binderhub_registry import cli  # noqa: PLC0415
    from binderhub_registry.commands import render  # noqa: PLC0415

    def broken(args, progress):
        raise RuntimeError("GET https://registry.example.org/?token=sekr1t-t0ken failed")

    monkeypatch.setattr(render, "run", broken)
    values = write_values(tmp_path / "values.yaml", generic_values("https://registry.example.org", "alice", "pw-1"))
    assert cli.main(["render", "--values", str(values)]) == 3
    err = capsys.readouterr().err
    assert "Unexpected error (RuntimeError)" in err and "sekr1t" not in err
