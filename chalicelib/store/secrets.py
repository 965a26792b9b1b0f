"""Secrets (the admin token, the Label Studio master key and Basic credential) from the environment
or from SSM Parameter Store.

`secret("ACTIVELABEL_ADMIN_TOKEN")` is the variable's value when it is set (local stack, tests);
otherwise, when `ACTIVELABEL_ADMIN_TOKEN_PARAMETER` names a parameter (the deployed template sets
`/activelabel/<stack>/admin-token` and friends), that parameter's value, decrypted (SecureString),
kept for CACHE_SECONDS per warm container so a rotation is picked up within minutes without a
GetParameter per request. A parameter that does not exist reads as "" (the feature is off), as an
unset variable does.
"""
import os
import time

from chalicelib import config
from chalicelib.store.aws import client

CACHE_SECONDS = 300
PARAMETER_SUFFIX = "_PARAMETER"
_cache: dict[str, tuple[float, str]] = {}


def secret(env_name: str) -> str:
    value = os.environ.get(env_name)
    if value:
        return value
    name = os.environ.get(env_name + PARAMETER_SUFFIX)
    if not name:
        return ""
    cached = _cache.get(name)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    value = _read_parameter(name)
    _cache[name] = (time.monotonic(), value)
    return value


def _read_parameter(name: str) -> str:
    ssm = client("ssm")
    try:
        return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return ""


def admin_token() -> str:
    return secret(config.ADMIN_TOKEN_ENV)


def clear_cache() -> None:
    """Forget cached parameter values (tests that change them)."""
    _cache.clear()
