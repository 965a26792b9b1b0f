"""Who is calling: `Authorization: Token <token>` -> a Principal (or 401).

Two kinds of credential:
- the admin token from `ACTIVELABEL_ADMIN_TOKEN` (the local stack generates and prints one; a
  deployed stage sets it per stage): role admin, all projects;
- API tokens made with `POST /api/tokens`: `al_<id>_<secret>`, where `<id>` is 16 hex digits (the
  tokens table's key) and `<secret>` 32 random bytes. Only the SHA-256 of the secret is stored (the
  secret has 256 bits of entropy, so a fast hash is enough; there is nothing to brute-force), and
  the digests are compared in constant time.

Tokens are never logged; error messages never echo them.
"""
import hashlib
import hmac
import re
import secrets

from chalicelib import config
from chalicelib.api.access import ALL_PROJECTS, Principal
from chalicelib.errors import UnauthorizedError
from chalicelib.store import repository

TOKEN_PATTERN = re.compile(r"^al_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
TOKEN_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
ENV_ADMIN = Principal(name="admin", role="admin", projects=ALL_PROJECTS)


def token_from_header(value: str | None) -> str:
    if not value:
        raise UnauthorizedError("missing Authorization header; send 'Authorization: Token <token>'", "Authorization")
    scheme, _, token = value.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise UnauthorizedError("Authorization must be 'Token <token>'", "Authorization")
    return token.strip()


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh credential: (token id, the token to hand out once, the digest to store)."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, f"al_{token_id}_{secret}", secret_digest(secret)


def authenticate(headers) -> Principal:
    token = token_from_header(headers.get("authorization"))
    admin = config.admin_token()
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return ENV_ADMIN
    match = TOKEN_PATTERN.match(token)
    if match:
        token_id, secret = match.groups()
        item = repository.find_token(token_id)
        digest = secret_digest(secret)
        if item is not None and hmac.compare_digest(digest, item.secret_sha256):
            projects = ALL_PROJECTS if item.projects == ALL_PROJECTS else tuple(item.projects)
            return Principal(name=item.name, role=item.role, projects=projects, token_id=token_id)
    raise UnauthorizedError("unknown or revoked token", "Authorization")
