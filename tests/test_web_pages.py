"""The browser front end: pages, static assets, security headers, local vendor assets."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

INDEX_IDS = [
    "username",
    "password",
    "login-btn",
    "register-btn",
    "logout-btn",
    "canvas",
    "clear-btn",
    "predict-btn",
    "endpoint-select",
    "result-digit",
    "result-version",
    "result-arm",
    "prob-bars",
    "feedback-right",
    "feedback-wrong",
    "label-picker",
    "feedback-status",
    "error",
]

ADMIN_IDS = [
    "username",
    "password",
    "login-btn",
    "logout-btn",
    "error",
    "report-total",
    "report-accuracy",
    "per-version-table",
    "per-arm-table",
    "verdict",
    "ab-form",
    "ab-save",
    "retrain-btn",
    "retrain-progress",
    "retrain-status",
    "jobs-table",
    "models-table",
]


class _Page(HTMLParser):
    """Collects ids, scripts, stylesheets and a few attributes from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, dict[str, str | None]] = {}
        self.scripts: list[dict[str, str | None]] = []
        self.inline_scripts: list[str] = []
        self.styles: list[str] = []
        self.inline_handlers: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if "id" in a and a["id"]:
            assert a["id"] not in self.ids, f"duplicate id {a['id']}"
            self.ids[a["id"]] = {"tag": tag, **a}
        if tag == "script":
            self.scripts.append(a)
            self._in_script = not a.get("src")
        if tag == "link" and a.get("rel") == "stylesheet":
            self.styles.append(a.get("href") or "")
        self.inline_handlers += [k for k in a if k.startswith("on")]
        if "style" in a:
            self.inline_handlers.append("style")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def _page(client, url: str) -> _Page:
    resp = client.get(url)
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    parser = _Page()
    parser.feed(resp.get_data(as_text=True))
    return parser


@pytest.mark.parametrize(("url", "ids"), [("/", INDEX_IDS), ("/admin", ADMIN_IDS)])
def test_page_has_stable_ids(client, url: str, ids: list[str]) -> None:
    page = _page(client, url)
    missing = [i for i in ids if i not in page.ids]
    assert not missing, f"{url} lacks ids {missing}"


def test_index_controls(client) -> None:
    page = _page(client, "/")
    canvas = page.ids["canvas"]
    assert canvas["tag"] == "canvas" and canvas["width"] == "280" and canvas["height"] == "280"
    options = [a.get("value") for tag, a in page.tags if tag == "option"]
    assert options[:3] == ["/api/ab/predict", "/api/v1/predict", "/api/v2/predict"]
    labels = sorted(int(a["data-label"]) for tag, a in page.tags if tag == "button" and "data-label" in a)
    assert labels == list(range(10))
    assert page.ids["login-btn"]["tag"] == "button"


def test_admin_progress_element(client) -> None:
    page = _page(client, "/admin")
    progress = page.ids["retrain-progress"]
    assert progress["tag"] == "progress" or "data-progress" in progress
    for table in ("per-version-table", "per-arm-table", "jobs-table", "models-table"):
        assert page.ids[table]["tag"] == "table"
    assert page.ids["ab-form"]["tag"] == "form"


@pytest.mark.parametrize("url", ["/", "/admin"])
def test_pages_have_no_inline_code(client, url: str) -> None:
    page = _page(client, url)
    assert page.inline_scripts == []
    assert page.inline_handlers == []
    assert page.scripts and all(s.get("src", "").startswith("/") for s in page.scripts)
    assert all(not s.get("src", "").startswith("//") for s in page.scripts)


@pytest.mark.parametrize("url", ["/", "/admin"])
def test_security_headers(client, url: str) -> None:
    resp = client.get(url)
    csp = resp.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'none'"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["frame-ancestors"] == ["'none'"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_are_not_rate_limited(make_app) -> None:
    app = make_app(RATELIMIT_DEFAULT="2 per minute")
    client = app.test_client()
    for _ in range(5):
        assert client.get("/").status_code == 200


@pytest.mark.parametrize("url", ["/", "/admin"])
def test_static_assets_served(client, url: str) -> None:
    page = _page(client, url)
    assets = [s["src"] for s in page.scripts] + page.styles
    assert any(a.endswith(".css") for a in assets)
    for asset in assets:
        resp = client.get(asset)
        assert resp.status_code == 200, asset
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        expected = "text/css" if asset.endswith(".css") else "text/javascript"
        assert resp.mimetype == expected, asset
        assert len(resp.data) > 100
        resp.close()


def test_admin_page_uses_local_socketio_client(client) -> None:
    page = _page(client, "/admin")
    srcs = [s["src"] for s in page.scripts]
    socket_src = [s for s in srcs if "socket.io" in s]
    assert socket_src and socket_src[0].startswith("/web/static/vendor/")
    resp = client.get(socket_src[0])
    assert resp.status_code == 200
    assert b"Socket.IO v4" in resp.data[:200]
    resp.close()
    lic = client.get("/web/static/vendor/socket.io-client.LICENSE")
    assert lic.status_code == 200
    assert b"Permission is hereby granted" in lic.data
    lic.close()


def test_scripts_never_use_inner_html_or_local_storage(client) -> None:
    for name in ("api.js", "draw.js", "admin.js", "admin_experiments.js"):
        resp = client.get(f"/web/static/js/{name}")
        source = resp.get_data(as_text=True)
        resp.close()
        assert not re.search(r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write", source), name
        assert not re.search(r"localStorage\s*[.\[]", source), name
        assert not re.search(r"\beval\(|new Function\(", source), name
        assert "sessionStorage" in source or name != "api.js"


@pytest.mark.parametrize(
    "name", ["swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js", "LICENSE"]
)
def test_swagger_assets_served_locally(client, name: str) -> None:
    resp = client.get(f"/static/swagger-ui/{name}")
    assert resp.status_code == 200
    assert len(resp.data) > 100
    resp.close()


def test_docs_page_references_local_assets(client) -> None:
    resp = client.get("/docs")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    swagger = [r for r in refs if "swagger-ui" in r]
    assert {r.rsplit("/", 1)[-1] for r in swagger} >= {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-ui-standalone-preset.js",
    }
    assert all(r.startswith("/static/swagger-ui/") for r in swagger), swagger
    assert not any(r.startswith(("http:", "https:", "//")) for r in refs)
    for ref in swagger:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        asset.close()


@pytest.mark.parametrize("url", ["/", "/admin"])
def test_sign_in_form_never_submits_by_get(client, url: str) -> None:
    # Until the scripts run, the fields are disabled; the form posts, so no password in a URL.
    page = _page(client, url)
    form = page.ids["auth-form"]
    assert form["tag"] == "form" and (form.get("method") or "").lower() == "post"
    fieldset = page.ids["auth-fields"]
    assert fieldset["tag"] == "fieldset" and "disabled" in fieldset
