"""Proof that credentials for user pods pull and cannot push (registry.pullCredentials, Harbor's
pull robot): user pods run untrusted code, so credentials that could push are refused.

On the repository BinderHub pushes to: a token asked for ``pull,push`` must grant pull and not push
(token services grant the intersection of what is asked and allowed); then, where the registry
is the witness (``witness_requests``; not Docker Hub, whose grants its registry enforces), it must
answer a tag list (200, or 404 for a repository without images yet) and refuse an upload session
(401 or 403). A registry that lets the credentials start an upload makes them push credentials,
whatever they are called: refused (the session is cancelled).
"""

from __future__ import annotations

from dataclasses import dataclass

from binderhub_registry.bounded_http import origin
from binderhub_registry.errors import CredentialsRejected, Unreachable
from binderhub_registry.oci import RegistryClient, upload_url
from binderhub_registry.registry_answers import answer


@dataclass
class PullProof:
    repository: str
    granted_actions: list[str] | None = None
    upload_refused: bool = False


def prove_pull_only(client: RegistryClient, repository: str, witness_requests: bool = True) -> PullProof:
    challenge = client.challenge()
    proof = PullProof(repository=repository)
    headers: dict[str, str] = {}
    auth = client.basic_auth() if challenge.scheme == "basic" else None
    if challenge.scheme == "bearer":
        token = client.request_token([f"repository:{repository}:pull,push"])
        granted = token.actions_for(repository)
        if granted is not None:
            proof.granted_actions = sorted(granted)
            if "push" in granted:
                raise can_push(client, repository, "the token service grants it push")
            if "pull" not in granted:
                raise cannot_pull(client, repository, "the token service grants it no pull")
        headers["Authorization"] = f"Bearer {token.value}"
    if not witness_requests:
        return proof
    url, hint = client.url, client.hints.url
    listed = client.send("GET", f"{url}/v2/{repository}/tags/list", what="Listing the tags", headers=headers, auth=auth)
    if listed.status_code == 401 and challenge.scheme == "basic":
        client.check_login()
    if listed.status_code in (401, 403):
        raise cannot_pull(client, repository, f"the registry answered {answer(listed)} to a tag list")
    if listed.status_code not in (200, 404):
        raise Unreachable(f"The registry answered {listed.status_code} to a tag list of {repository}; check {hint}.")
    upload = client.send("POST", f"{url}/v2/{repository}/blobs/uploads/", what="Starting an upload session", headers=headers, auth=auth)
    if upload.status_code == 202:
        location = upload_url(url, upload.headers.get("Location", ""))
        if location is not None and origin(location) == origin(url):
            client.send("DELETE", location, what="Cancelling the upload session", headers=headers, auth=auth)
        raise can_push(client, repository, "the registry let them start an upload")
    if upload.status_code not in (401, 403):
        raise Unreachable(
            f"The registry answered {upload.status_code} to an upload session of pull credentials for {repository}, "
            f"neither 202 nor a refusal (401, 403); check {hint}."
        )
    proof.upload_refused = True
    return proof


def can_push(client: RegistryClient, repository: str, why: str) -> CredentialsRejected:
    return CredentialsRejected(
        f"The pull credentials ({client.hints.credentials}) can push to {repository} ({why}); user pods run untrusted code: "
        f"give them an account that may only pull."
    )


def cannot_pull(client: RegistryClient, repository: str, why: str) -> CredentialsRejected:
    who = f"user {client.username!r}" if client.username else "anonymous access"
    return CredentialsRejected(
        f"The pull credentials ({client.hints.credentials}) cannot pull from {repository} as {who} ({why}); "
        f"give the account read (pull) access to it."
    )
