"""Secrets for the Label Studio connections: one master key, from which are derived

- the per-project Basic-auth passwords (HMAC, so checking one needs no database read), and
- the AES-256-GCM key that encrypts the Label Studio access tokens stored at rest.

The master key is `ACTIVELABEL_LS_SECRET` (url-safe base64 of at least 32 random bytes). A deployed
stage reads it from the SSM SecureString `/activelabel/<stack>/ls-secret` (chalicelib/store/secrets.py);
the local stack generates one per run. Nothing here logs a secret.
"""
import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.errors import ActivelabelError
from chalicelib.store.secrets import secret

SECRET_ENV = "ACTIVELABEL_LS_SECRET"
_CIPHER_PREFIX = "v1:"


class SecretNotConfigured(ActivelabelError):
    status = 500
    code = "ConfigurationError"


def configured() -> bool:
    return bool(secret(SECRET_ENV))


def master_key() -> bytes:
    raw = secret(SECRET_ENV)
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)) if raw else b""
    except ValueError:
        key = b""
    if len(key) < 32:
        raise SecretNotConfigured(f"{SECRET_ENV} must hold at least 32 random bytes (url-safe base64)")
    return key


def new_master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def derive(purpose: str) -> bytes:
    return hmac.new(master_key(), purpose.encode(), hashlib.sha256).digest()


def derived_secret(purpose: str) -> str:
    """A printable secret bound to `purpose` (e.g. a project's Basic-auth password)."""
    return base64.urlsafe_b64encode(derive(purpose)).decode().rstrip("=")


def fingerprint(*values: str) -> str:
    """A keyed digest, to tell whether stored secrets changed without decrypting them."""
    return hmac.new(derive("fingerprint"), "\x00".join(values).encode(), hashlib.sha256).hexdigest()


def encrypt(plaintext: str, context: str) -> str:
    """AES-256-GCM; `context` (e.g. the project id) is authenticated, so a ciphertext cannot be
    moved to another project."""
    nonce = os.urandom(12)
    sealed = AESGCM(derive("token-encryption")).encrypt(nonce, plaintext.encode(), context.encode())
    return _CIPHER_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(ciphertext: str, context: str) -> str:
    """Raises ValueError when the ciphertext is not ours, was altered, or belongs to another context."""
    if not ciphertext.startswith(_CIPHER_PREFIX):
        raise ValueError("unknown ciphertext format")
    try:
        blob = base64.urlsafe_b64decode(ciphertext[len(_CIPHER_PREFIX):])
        return AESGCM(derive("token-encryption")).decrypt(blob[:12], blob[12:], context.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise ValueError(f"cannot decrypt ({type(exc).__name__})") from None
