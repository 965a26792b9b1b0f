"""The OpenAPI document is valid, covers every route, and agrees with the access table."""
import pytest
from openapi_spec_validator import validate

from chalicelib.api import access, openapi


@pytest.fixture(scope="module")
def app():
    import app as app_module

    return app_module.app


@pytest.fixture(scope="module")
def document(app):
    return openapi.document(app)


def test_the_document_is_valid_openapi_3(document):
    validate(document)


def test_every_route_is_documented_with_its_access_rule(app, document):
    for path, methods in app.routes.items():
        if openapi.is_labelstudio_protocol(path):
            assert path not in document["paths"]  # Label Studio's protocol: docs/labelstudio.md
            continue
        for method in methods:
            operation = document["paths"][path][method.lower()]
            rule = access.rule_for(method, path)
            if rule.public:
                assert operation["security"] == []
            else:
                assert "security" not in operation and rule.role in operation["description"]
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == set(app.routes[path][method].view_args)


def test_described_bodies_and_queries_belong_to_real_routes(app):
    routes = {(method, path) for path, methods in app.routes.items() for method in methods}
    assert set(openapi.BODIES) <= routes and set(openapi.QUERIES) <= routes
    for method, path in routes:  # every route that reads a JSON body describes it
        if openapi.is_labelstudio_protocol(path):
            continue
        if method in ("POST", "PUT", "PATCH") and (method, path) not in openapi.BODIES:
            assert path.endswith(("/train", "/predictions")), (method, path)  # no body
