"""Secrets come from the variable when it is set, else from the SSM parameter it names (deployed)."""
import boto3

from chalicelib.store import secrets
from tests.conftest import ADMIN


def use_parameter(monkeypatch, variable, name, value):
    boto3.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(variable + secrets.PARAMETER_SUFFIX, name)
    secrets.clear_cache()


def test_the_variable_wins_then_the_parameter_then_nothing(aws, monkeypatch):
    monkeypatch.setenv("ACTIVELABEL_X", "from-env")
    monkeypatch.setenv("ACTIVELABEL_X_PARAMETER", "/activelabel/s/x")
    boto3.client("ssm").put_parameter(Name="/activelabel/s/x", Value="from-ssm", Type="SecureString")
    assert secrets.secret("ACTIVELABEL_X") == "from-env"
    monkeypatch.delenv("ACTIVELABEL_X")
    assert secrets.secret("ACTIVELABEL_X") == "from-ssm"
    monkeypatch.setenv("ACTIVELABEL_X_PARAMETER", "/activelabel/s/missing")
    assert secrets.secret("ACTIVELABEL_X") == ""  # not created yet: the feature is off
    monkeypatch.delenv("ACTIVELABEL_X_PARAMETER")
    assert secrets.secret("ACTIVELABEL_X") == ""


def test_a_rotated_parameter_is_read_again_after_the_cache_time(aws, monkeypatch):
    use_parameter(monkeypatch, "ACTIVELABEL_Y", "/activelabel/s/y", "old")
    assert secrets.secret("ACTIVELABEL_Y") == "old"
    boto3.client("ssm").put_parameter(Name="/activelabel/s/y", Value="new", Type="SecureString", Overwrite=True)
    assert secrets.secret("ACTIVELABEL_Y") == "old"  # cached: no GetParameter per request
    name, (read_at, value) = next(iter(secrets._cache.items()))
    secrets._cache[name] = (read_at - secrets.CACHE_SECONDS - 1, value)
    assert secrets.secret("ACTIVELABEL_Y") == "new"


def test_the_admin_token_from_ssm_opens_the_api_and_a_wrong_one_does_not(api, monkeypatch):
    use_parameter(monkeypatch, "ACTIVELABEL_ADMIN_TOKEN", "/activelabel/activelabel-local/admin-token",
                  ADMIN["Authorization"].removeprefix("Token "))
    assert api.get("/api/projects").status_code == 200
    use_parameter(monkeypatch, "ACTIVELABEL_ADMIN_TOKEN", "/activelabel/activelabel-local/admin-token", "rotated")
    assert api.get("/api/projects").status_code == 401
