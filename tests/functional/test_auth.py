"""Auth: every route x every kind of wrong credential, table-driven over `app.routes`.

A route added without an entry in chalicelib/api/access.py cannot even be registered; a route with
a rule is exercised here against: no token, malformed and unknown tokens, a revoked token, a real
token id with a wrong secret, another project's admin token, and a token whose role is too low.
Each refusal must be 401/403 and must not leak the other project's data.
"""
import json

import pytest
from chalice import Chalice

from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion
from chalicelib.api import access, http
from chalicelib.store.models import TokenModel
from tests.functional.helpers import complete, import_texts, make_project

SECRET_TITLE = "project-a-secret-title"
SECRET_TEXT = "project-a-secret-text: call 555-0199"
SPARE_NAME = "project-a-spare-token"


def token_headers(token):
    return {"Authorization": f"Token {token}", "Content-Type": "application/json"}


def make_token(api, role, projects, name=None):
    answer = api.post("/api/tokens", {"name": name or f"{role}-{projects}", "role": role, "projects": projects})
    assert answer.status_code == 201, answer.json
    return answer.json


@pytest.fixture
def world(api):
    """Projects A and B with data; tokens of every role for A, an admin token for B."""
    a = api.post("/api/projects", {"title": SECRET_TITLE, "label_config": SMS_LABEL_CONFIG}).json["id"]
    b = make_project(api)
    [task_a] = import_texts(api, a, [{"text": SECRET_TEXT}])
    completion_a = complete(api, a, task_a, "spam")
    import_texts(api, b, [{"text": "b's own text"}])
    tokens = {role: make_token(api, role, [a]) for role in access.ROLES}
    tokens["b_admin"] = make_token(api, "admin", [b])
    tokens["spare_a"] = make_token(api, "reader", [a], name=SPARE_NAME)
    return {"a": a, "b": b, "task_a": task_a, "completion_a": completion_a["id"], "tokens": tokens}


def routes(chalice_app):
    for path, methods in sorted(chalice_app.routes.items()):
        for method in sorted(methods):
            yield method, path


def concrete(path, world):
    return (path.replace("{project_id}", world["a"]).replace("{task_id}", world["task_a"])
            .replace("{completion_id}", world["completion_a"])
            .replace("{token_id}", world["tokens"]["spare_a"]["id"]))


def assert_no_leak(answer, world):
    text = answer.body.decode() if isinstance(answer.body, bytes) else str(answer.body)
    assert SECRET_TITLE not in text and SECRET_TEXT not in text, text[:300]
    assert SPARE_NAME not in text  # A's tokens are not listed


def test_every_route_has_exactly_one_access_rule(chalice_app):
    registered = set(routes(chalice_app))
    assert registered == set(access.ROUTE_ACCESS), "ROUTE_ACCESS and app.py disagree"


def test_a_route_without_an_access_rule_cannot_be_registered():
    app = Chalice("probe")
    route = http.route_factory(app, lambda headers: None)
    with pytest.raises(access.MissingAccessRule, match="GET /api/projects/{project_id}/secrets"):
        @route("/api/projects/{project_id}/secrets")
        def secrets(project_id):
            return {}


def test_every_route_refuses_every_wrong_credential(api, chalice_app, world):
    tokens = world["tokens"]
    wrong_secret = f"al_{tokens['admin']['id']}_{'x' * 43}"
    revoked = make_token(api, "admin", "*", name="revoked")
    assert api.delete(f"/api/tokens/{revoked['id']}").status_code == 200
    unauthenticated = {
        "no token": {"Content-Type": "application/json"},
        "not a token scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "unknown token": token_headers("wrong"),
        "unknown well-formed token": token_headers(f"al_{'0' * 16}_{'y' * 43}"),
        "right id, wrong secret": token_headers(wrong_secret),
        "revoked token": token_headers(revoked["token"]),
    }
    checked = 0
    for method, path in routes(chalice_app):
        rule = access.rule_for(method, path)
        if rule.public:
            continue
        url = concrete(path, world)
        body = {"name": "x", "role": "admin", "projects": [world["a"]]} if path == "/api/tokens" else {}
        for what, headers in unauthenticated.items():
            answer = api.call(method, url, body=body, headers=headers)
            assert answer.status_code == 401, (method, path, what, answer.json)
            assert answer.json["Code"] == "UnauthorizedError" and answer.json["Field"] == "Authorization"
            assert_no_leak(answer, world)

        # another project's admin token
        answer = api.call(method, url, body=body, headers=token_headers(tokens["b_admin"]["token"]))
        if "{project_id}" in path or rule.all_projects:
            assert answer.status_code == 403, (method, path, answer.json)
            assert answer.json["Code"] == "ForbiddenError"
        elif (method, path) == ("DELETE", "/api/tokens/{token_id}"):
            assert answer.status_code == 404, answer.json  # A's token is invisible to B's admin
        elif (method, path) == ("POST", "/api/tokens"):
            assert answer.status_code == 403 and answer.json["Field"] == "projects[0]", answer.json
        else:
            assert answer.status_code == 200, (method, path, answer.json)  # lists filtered to B
        assert_no_leak(answer, world)

        # a token of the right project whose role is one too low
        rank = access.RANK[rule.role]
        if rank > 1:
            lower = access.ROLES[rank - 2]
            answer = api.call(method, url, body=body, headers=token_headers(tokens[lower]["token"]))
            assert answer.status_code == 403, (method, path, lower, answer.json)
            assert answer.json["Code"] == "ForbiddenError" and "role" in answer.json["Message"]
            assert_no_leak(answer, world)
        checked += 1
    assert checked >= 20
    # nothing above changed project A
    assert api.get(f"/api/projects/{world['a']}").json["title"] == SECRET_TITLE


def test_the_annotator_token_is_refused_on_every_admin_route(api, chalice_app, world):
    headers = token_headers(world["tokens"]["annotator"]["token"])
    admin_routes = [(m, p) for m, p in routes(chalice_app) if access.rule_for(m, p).role == "admin"]
    assert len(admin_routes) >= 8
    for method, path in admin_routes:
        answer = api.call(method, concrete(path, world), body={}, headers=headers)
        assert answer.status_code == 403, (method, path, answer.json)
        assert_no_leak(answer, world)


def test_each_role_is_let_through_exactly_where_the_table_says(api, chalice_app, world):
    """The table is not stricter than it says: a token with exactly the rule's role gets past auth."""
    order = sorted(routes(chalice_app), key=lambda mp: mp == ("DELETE", "/api/projects/{project_id}"))
    for method, path in order:
        rule = access.rule_for(method, path)
        if rule.public or rule.all_projects:
            continue
        headers = token_headers(world["tokens"][rule.role]["token"])
        body = {"name": "n", "role": "reader", "projects": [world["a"]]} if path == "/api/tokens" else {}
        answer = api.call(method, concrete(path, world), body=body, headers=headers)
        # past auth; a 403 may still come from what the request asks (an annotator deleting a
        # completion of someone else's: test_annotator_identity.py), never from the token's rule
        refused_by_rule = answer.status_code == 403 and answer.json.get("Field") in ("Authorization", "project_id")
        assert answer.status_code != 401 and not refused_by_rule, (method, path, rule.role, answer.json)


def test_a_scoped_token_lists_only_its_projects_and_cannot_create_one(api, world):
    headers = token_headers(world["tokens"]["b_admin"]["token"])
    listed = api.get("/api/projects", headers=headers).json["projects"]
    assert [p["id"] for p in listed] == [world["b"]]
    answer = api.post("/api/projects", {"title": "x", "label_config": SMS_LABEL_CONFIG}, headers=headers)
    assert answer.status_code == 403
    assert len(api.get("/api/projects").json["projects"]) == 2


def test_a_scoped_token_pages_through_its_projects(api, world):
    extra = [make_project(api) for _ in range(4)]
    mine = [world["a"], world["b"], *extra]
    headers = token_headers(make_token(api, "reader", mine + [world["a"]])["token"])  # a twice: listed once
    seen, cursor, pages = [], None, 0
    while True:
        page = api.get("/api/projects?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=headers).json
        assert len(page["projects"]) <= 2
        seen += [p["id"] for p in page["projects"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == sorted(mine, key=int) and pages == 3
    foreign = api.get("/api/projects?limit=1").json["next"]  # an all-projects cursor means nothing here
    answer = api.get(f"/api/projects?cursor={foreign}", headers=headers)
    assert answer.status_code == 400 and answer.json["Field"] == "cursor"


def test_token_scope_rules_for_creating_listing_and_revoking(api, world):
    a_admin = token_headers(world["tokens"]["admin"]["token"])
    # a project-scoped admin can make tokens for its projects, never "*" nor for another project
    answer = api.post("/api/tokens", {"name": "ann", "role": "annotator", "projects": [world["a"]]}, headers=a_admin)
    assert answer.status_code == 201 and answer.json["token"].startswith("al_")
    assert api.post("/api/tokens", {"name": "all", "role": "reader", "projects": "*"}, headers=a_admin).status_code == 403
    # a token for a project that does not exist (yet) would grant access to a future project
    answer = api.post("/api/tokens", {"name": "future", "role": "reader", "projects": ["999"]})
    assert answer.status_code == 400 and answer.json["Field"] == "projects[0]"
    for body, field in [({"name": "x", "role": "owner", "projects": "*"}, "role"),
                        ({"role": "reader", "projects": "*"}, "name"),
                        ({"name": "x", "role": "reader"}, "projects"),
                        ({"name": "x", "role": "reader", "projects": []}, "projects"),
                        ({"name": "x", "role": "reader", "projects": "*", "ttl": 3}, "ttl")]:
        answer = api.post("/api/tokens", body)
        assert answer.status_code == 400 and answer.json["Field"] == field, (body, answer.json)
    # listing: A's admin sees only A's tokens, the global admin sees all
    seen_by_a = {t["id"] for t in api.get("/api/tokens", headers=a_admin).json["tokens"]}
    assert world["tokens"]["b_admin"]["id"] not in seen_by_a and world["tokens"]["reader"]["id"] in seen_by_a
    assert world["tokens"]["b_admin"]["id"] in {t["id"] for t in api.get("/api/tokens").json["tokens"]}
    # revoking: B's token is "not found" for A's admin, and still works
    assert api.delete(f"/api/tokens/{world['tokens']['b_admin']['id']}", headers=a_admin).status_code == 404
    b_headers = token_headers(world["tokens"]["b_admin"]["token"])
    assert api.get(f"/api/projects/{world['b']}", headers=b_headers).status_code == 200
    # revoked tokens stop working at once
    reader = world["tokens"]["reader"]
    assert api.get(f"/api/projects/{world['a']}", headers=token_headers(reader["token"])).status_code == 200
    assert api.delete(f"/api/tokens/{reader['id']}", headers=a_admin).status_code == 200
    assert api.get(f"/api/projects/{world['a']}", headers=token_headers(reader["token"])).status_code == 401


def test_tokens_are_stored_hashed_and_never_listed(api, world):
    made = make_token(api, "reader", [world["a"]], name="hashed")
    secret = made["token"].split("_", 2)[2]
    stored = [item.attribute_values for item in TokenModel.scan()]
    dump = json.dumps(stored, default=str)
    assert secret not in dump and made["token"] not in dump
    listed = json.dumps(api.get("/api/tokens").json)
    assert secret not in listed and "sha256" not in listed
    assert {"id", "name", "role", "projects", "created_at"} <= set(api.get("/api/tokens").json["tokens"][0])


def test_roles_do_what_the_issue_says(api, world, pump):
    a, task = world["a"], world["task_a"]
    annotator = token_headers(world["tokens"]["annotator"]["token"])
    reader = token_headers(world["tokens"]["reader"]["token"])
    own = {"result": choice_completion("ham", "ann")["result"]}  # completed_by: the token's own name
    answer = api.post(f"/api/projects/{a}/tasks/{task}/completions", own, headers=annotator)
    assert answer.status_code == 201
    answer = api.post(f"/api/projects/{a}/tasks/{task}/completions", choice_completion("ham", "r"), headers=reader)
    assert answer.status_code == 403
    assert api.get(f"/api/projects/{a}/export", headers=reader).status_code == 200
    assert api.put(f"/api/projects/{a}/ml", {"min_completions": 2}, headers=annotator).status_code == 403
    assert api.post(f"/api/projects/{a}/tasks", [{"data": {"text": "x"}}], headers=annotator).status_code == 403
    pump.drain()
    assert api.get(f"/api/projects/{a}/training", headers=reader).json["completions"] == 2


def test_the_openapi_document_is_served_to_any_token_but_not_anonymously(api, world):
    assert api.get("/api/openapi.json", headers={}).status_code == 401
    answer = api.get("/api/openapi.json", headers=token_headers(world["tokens"]["reader"]["token"]))
    assert answer.status_code == 200 and answer.json["openapi"].startswith("3.0")


def test_a_token_revoked_by_another_container_stops_working_within_the_warm_cache_bound(api, world, monkeypatch):
    """Verified tokens are kept per warm container for ACTIVELABEL_WARM_CACHE_SECONDS (store/warm.py):
    a revocation written elsewhere (here: the item deleted behind this container's back) is honoured
    once that bound has passed; the clock is the cache's own."""
    from chalicelib.store import warm

    clock = [1000.0]
    monkeypatch.setattr(warm.time, "monotonic", lambda: clock[0])
    monkeypatch.setenv("ACTIVELABEL_WARM_CACHE_SECONDS", "5")
    reader = world["tokens"]["reader"]
    path = f"/api/projects/{world['a']}"
    assert api.get(path, headers=token_headers(reader["token"])).status_code == 200
    TokenModel(token_id=reader["id"]).delete()  # another container revokes it
    clock[0] += 4.9
    assert api.get(path, headers=token_headers(reader["token"])).status_code == 200  # within the bound
    clock[0] += 0.2
    assert api.get(path, headers=token_headers(reader["token"])).status_code == 401
    # a wrong secret for a cached token id is still refused: the digest is compared on every request
    spare = world["tokens"]["spare_a"]
    assert api.get(path, headers=token_headers(spare["token"])).status_code == 200
    assert api.get(path, headers=token_headers(spare["token"][:-4] + "AAAA")).status_code == 401
    monkeypatch.setenv("ACTIVELABEL_WARM_CACHE_SECONDS", "0")  # 0 turns the cache off
    TokenModel(token_id=spare["id"]).delete()
    assert api.get(path, headers=token_headers(spare["token"])).status_code == 401
