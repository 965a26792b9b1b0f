"""Pure pieces of the Label Studio protocol: Basic auth, the SSRF guard, token encryption, payload parsing."""
import base64
import ipaddress

import pytest

from chalicelib.errors import UnauthorizedError, ValidationError
from chalicelib.labelstudio import auth, client, crypto, net, protocol
from tests.conftest import load_fixture


def header(user, password):
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# ---------------------------------------------------------------- auth

def test_deployment_and_project_credentials():
    assert auth.authenticate(header("ls-user", "ls-pass")) == auth.Connection(user="ls-user")
    user, password = auth.project_credential("12")
    assert auth.authenticate(header(user, password)) == auth.Connection(user="project-12", project_id="12")
    other_user, other_password = auth.project_credential("13")
    assert password != other_password
    for bad in (header(user, other_password), header("ls-user", "ls-pas"), header("project-x", password),
                {"authorization": "Token abc"}, {"authorization": "Basic !!"}, {},
                {"authorization": "Basic " + base64.b64encode(b"no-colon").decode()}):
        with pytest.raises(UnauthorizedError):
            auth.authenticate(bad)


def test_password_with_colons_and_unset_deployment_credential(monkeypatch):
    monkeypatch.setenv(auth.BASIC_AUTH_ENV, "u:p:with:colons")
    assert auth.authenticate(header("u", "p:with:colons")).user == "u"
    monkeypatch.setenv(auth.BASIC_AUTH_ENV, "")
    with pytest.raises(UnauthorizedError):
        auth.authenticate(header("", ""))


# ---------------------------------------------------------------- crypto

def test_tokens_are_encrypted_bound_to_their_project():
    sealed = crypto.encrypt("secret-token", "project:1")
    assert "secret-token" not in sealed and sealed != crypto.encrypt("secret-token", "project:1")
    assert crypto.decrypt(sealed, "project:1") == "secret-token"
    with pytest.raises(ValueError):
        crypto.decrypt(sealed, "project:2")
    with pytest.raises(ValueError):
        crypto.decrypt(sealed[:-4] + "AAAA", "project:1")


def test_a_missing_or_short_secret_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv(crypto.SECRET_ENV, "c2hvcnQ")
    with pytest.raises(crypto.SecretNotConfigured):
        crypto.encrypt("x", "y")
    assert len(base64.urlsafe_b64decode(crypto.new_master_key() + "=")) == 32


# ---------------------------------------------------------------- SSRF guard

@pytest.mark.parametrize("address, allow, refused", [
    ("169.254.169.254", {"loopback", "private"}, "metadata"),
    ("fd00:ec2::254", {"loopback", "private"}, "metadata"),
    ("169.254.10.1", {"private"}, "link-local"),
    ("fe80::1", {"private"}, "link-local"),
    ("::ffff:169.254.169.254", {"private", "loopback"}, "metadata"),
    ("127.0.0.1", set(), "loopback"),
    ("::1", set(), "loopback"),
    ("127.0.0.1", {"loopback"}, None),
    ("10.0.0.5", {"loopback"}, "private"),
    ("192.168.1.1", set(), "private"),
    ("100.64.0.1", set(), "private"),
    ("10.0.0.5", {"private"}, None),
    ("0.0.0.0", {"loopback", "private"}, "unicast"),
    ("224.0.0.1", {"loopback", "private"}, "unicast"),
    ("93.184.216.34", set(), None),
])
def test_address_policy(address, allow, refused):
    why = net.address_refusal(ipaddress.ip_address(address), allow)
    assert (why is None) if refused is None else (refused in why)


def test_check_url_resolves_names_and_refuses_bad_urls(monkeypatch):
    monkeypatch.setenv(net.ALLOW_ENV, "")
    with pytest.raises(ValidationError, match="loopback"):
        net.check_url("http://localhost:9090/")
    for url in ("ftp://example.com/", "http:///x", "http://user:pw@127.0.0.1/", "not a url", "http://127.0.0.1:99999/"):
        with pytest.raises(ValidationError):
            net.check_url(url, "ml.custom_backend.url")
    monkeypatch.setenv(net.ALLOW_ENV, "loopback")
    target = net.check_url("http://localhost:9090/ml?x=1")
    assert target.address in ("127.0.0.1", "::1") and target.port == 9090 and target.path == "/ml?x=1"


def test_join_follows_label_studio():
    assert net.join("http://h/ls", "health") == "http://h/ls/health"
    assert net.join("http://h/ls/", "setup") == "http://h/ls/setup"


# ---------------------------------------------------------------- payloads

def test_project_keys():
    assert protocol.ls_project_key("12.1690000000") == "12.1690000000"
    assert protocol.ls_project_number("12.1690000000") == "12"
    assert protocol.ls_project_key(None) is None
    for bad in ("abc", "", "1|2", {"id": 1}, True):
        with pytest.raises(ValidationError):
            protocol.ls_project_key(bad)


def test_predict_tasks_accepts_a_single_task_object():
    assert protocol.predict_tasks(load_fixture("labelstudio", "ml_backend_payloads", "core.predict.request.json")) \
        == [{"id": 1}]
    assert len(protocol.predict_tasks(load_fixture("labelstudio", "ml_backend_payloads",
                                                   "spacy.predict.request.json"))) == 1
    with pytest.raises(ValidationError):
        protocol.predict_tasks({"tasks": "x"})


def test_annotation_events_old_and_new_shapes():
    result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["ham"]}}]
    nested = {"annotation": {"id": 5, "result": result, "task": {"id": 9, "data": {"text": "hi"}},
                             "completed_by": {"id": 3, "email": "a@b.c"}}}
    ann_id, task_id, data, completion = protocol.annotation_event(nested)
    assert (ann_id, task_id, data) == (5, 9, {"text": "hi"}) and completion["result"] == result
    flat = {"annotation": {"id": "6", "task": 9, "was_cancelled": True}, "task": {"id": 9, "data": {"text": "x"}}}
    ann_id, task_id, data, completion = protocol.annotation_event(flat)
    assert (ann_id, task_id, completion["was_cancelled"], completion["result"]) == (6, 9, True, [])
    with pytest.raises(ValidationError):
        protocol.annotation_event(load_fixture("labelstudio", "ml_backend_payloads", "huggingface_ner.webhook.request.json"))
    assert protocol.deleted_annotation_ids({"annotations": [{"id": 1}, {"id": 2}]}) == [1, 2]
    assert protocol.webhook_project_number({"project": {"id": 12345}}) == "12345"
    assert protocol.webhook_project_number({"project": "4.1700"}) == "4"


def test_exported_tasks_in_both_namings():
    completions_2020 = load_fixture("labelstudio", "converter", "completions_2020", "348.json")
    parsed = protocol.exported_tasks([completions_2020], "completions")
    assert parsed[0][0] == completions_2020["id"] and len(parsed[0][2]) == len(completions_2020["completions"])
    parsed = protocol.exported_tasks([{"id": 1, "data": {"t": "x"}, "completions": [{"result": []}]}], "c")
    assert parsed[0][2][0][0] == -1  # no id in very old payloads: never mistaken for a real one
    with pytest.raises(ValidationError, match=r"annotations\[0\].data"):
        protocol.exported_tasks([{"id": 1}], "annotations")


def test_backend_predictions_old_and_new():
    response = load_fixture("labelstudio", "ml_backend_payloads", "huggingface_ner.predict.response.json")
    item = client.normalize_prediction(response["results"][0], "setup-version")
    assert item["model_version"] == "HuggingFaceNER-v0.0.1" and len(item["result"]) == 2
    bert = load_fixture("labelstudio", "ml_backend_payloads", "bert_classifier.predict.response_results.json")
    item = client.normalize_prediction(bert[0], "v7")
    assert item["model_version"] == "v7" and item["score"] == 0.0
    assert client.normalize_prediction([bert[0], {"result": []}], "v7")["result"] == bert[0]["result"]
    assert client.normalize_prediction({"no": "result"}, "v7") == protocol.empty_prediction("v7")
