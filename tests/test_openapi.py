from __future__ import annotations

import re

# Not JSON endpoints: static files, the docs themselves, HTML pages and the Prometheus text scrape.
NON_JSON_ENDPOINTS = re.compile(r"^(static|api-docs\.|web\.|metrics\.)")


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_every_json_route_is_documented(app, client):
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]
    missing = []
    for rule in app.url_map.iter_rules():
        if NON_JSON_ENDPOINTS.match(rule.endpoint):
            continue
        doc = paths.get(_openapi_path(rule.rule))
        methods = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
        if doc is None or not methods <= set(doc):
            missing.append((rule.rule, sorted(methods)))
    assert not missing, missing


def test_document_has_security_uploads_and_error_shape(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    predict = spec["paths"]["/api/v2/predict"]["post"]
    assert predict["security"] == [{"bearerAuth": []}]
    assert "multipart/form-data" in predict["requestBody"]["content"]
    assert {"400", "401", "413", "415", "422", "429"} <= set(predict["responses"])
    # Every prediction answer carries the out-of-distribution flag and score (single, batch, A/B).
    for name in ("Prediction", "BatchItem"):
        props = spec["components"]["schemas"][name]["properties"]
        assert props["ood"]["type"] == "boolean" and props["ood_score"]["type"] == "number"
    error = spec["components"]["schemas"]["Error"]
    assert "error" in error["properties"]
    login = spec["paths"]["/login"]["post"]
    assert "application/json" in login["requestBody"]["content"]


def test_swagger_ui_page(client):
    resp = client.get("/docs")
    assert resp.status_code == 200
    assert b"swagger-ui" in resp.data


def test_single_predict_views_keep_their_documented_schemas(client):
    """Those views skip flask-smorest's run-time wrappers (app/apidoc.py), not their documentation."""
    spec = client.get("/openapi.json").get_json()
    for path in ("/api/v1/predict", "/api/v2/predict", "/api/ab/predict"):
        op = spec["paths"][path]["post"]
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/Prediction"}, path
        upload = op["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert upload == {"$ref": "#/components/schemas/ImageUpload"}, path
        assert op["security"] == [{"bearerAuth": []}] and "422" in op["responses"], path


def test_doc_only_takes_every_documenting_decorator_at_once():
    import pytest
    from flask_smorest import Blueprint

    from app.apidoc import doc_only

    blp = Blueprint("probe", __name__)

    @doc_only(blp.doc(summary="probe"), blp.alt_response(404, description="gone"))
    def view() -> str:
        return "ran"

    assert view() == "ran"  # the view itself, not a wrapper
    assert view._apidoc["manual_doc"] == {"summary": "probe"}
    assert view._apidoc["response"]["responses"][404][0]["description"] == "gone"
    with pytest.raises(TypeError):
        doc_only(blp.doc(summary="again"))(view)
