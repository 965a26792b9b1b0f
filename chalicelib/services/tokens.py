"""API tokens: issue (the secret is returned once), verify, list, revoke.

A token is `al_<id>_<secret>`, where `<id>` is 16 hex digits (the tokens table's key) and
`<secret>` 32 random bytes. Only the SHA-256 of the secret is stored (the secret has 256 bits of
entropy, so a fast hash is enough; there is nothing to brute-force), and digests are compared in
constant time. Who may issue or see which token is the edge's access rule (api/tokens.py).
"""
import hashlib
import hmac
import re
import secrets

from chalicelib.errors import ValidationError
from chalicelib.store import projects as project_db
from chalicelib.store import tokens as token_db

TOKEN_PATTERN = re.compile(r"^al_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
TOKEN_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh credential: (token id, the token to hand out once, the digest to store)."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, f"al_{token_id}_{secret}", secret_digest(secret)


def verify(token: str):
    """The stored token record `token` proves, or None (malformed, unknown, revoked, wrong secret)."""
    match = TOKEN_PATTERN.match(token)
    if not match:
        return None
    token_id, secret = match.groups()
    item = token_db.find_token_warm(token_id)
    if item is not None and hmac.compare_digest(secret_digest(secret), item.secret_sha256):
        return item
    return None


def require_existing_projects(ids: list[str]) -> None:
    """400 naming `projects[i]` for the first id with no project: ids come from a counter, so a token
    for a future project would grant access to whoever's project gets that id later."""
    existing = {p.project_id for p in project_db.get_projects(ids)}
    missing = [i for i, project_id in enumerate(ids) if project_id not in existing]
    if missing:
        raise ValidationError(f"projects[{missing[0]}]", f"project {ids[missing[0]]!r} does not exist")


def issue(name: str, role: str, projects, created_by: str) -> tuple[object, str]:
    """(the stored record, the token to hand out once)."""
    token_id, token, digest = new_token()
    return token_db.create_token(token_id, digest, name, role, projects, created_by), token


def all_tokens() -> list:
    return token_db.all_tokens()


def find(token_id: str):
    return token_db.find_token(token_id) if TOKEN_ID_PATTERN.match(token_id) else None


def revoke(token_id: str) -> None:
    token_db.delete_token(token_id)
