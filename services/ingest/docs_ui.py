"""``/docs`` (Swagger UI) and ``/redoc`` from the assets this package ships (``services/ingest/static``).

FastAPI's own pages load their scripts and styles from a CDN (and Redoc's, Google's fonts): blank on a host that
reaches no other. These pages reference nothing but paths on the API itself (decision 0038). Like ``/openapi.json``,
they and their assets need no token (services/ingest/auth.py).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Under this prefix the assets are served; auth.py lets it through without a token.
STATIC_PREFIX = "/static"
SWAGGER_JS = "swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui/swagger-ui.css"
FAVICON = "swagger-ui/favicon-32x32.png"
REDOC_JS = "redoc/redoc.standalone.js"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"


def add_docs_pages(app: FastAPI) -> None:
    """Mount the assets and serve the two pages; build ``app`` with ``docs_url=None, redoc_url=None``.

    Call before any router is included: the mount then answers every path under ``/static/`` (which needs no token)
    before a route with a leading path parameter could.
    """
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + _openapi_url(app),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=_asset(root, SWAGGER_JS),
            swagger_css_url=_asset(root, SWAGGER_CSS),
            swagger_favicon_url=_asset(root, FAVICON),
            # Swagger UI would send the document to its public validator for a badge: not from here.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_redoc_html(
            openapi_url=root + _openapi_url(app),
            title=f"{app.title} - ReDoc",
            redoc_js_url=_asset(root, REDOC_JS),
            redoc_favicon_url=_asset(root, FAVICON),
            with_google_fonts=False,
        )


def _root_path(request: Request) -> str:
    # Behind a proxy that mounts the API under a prefix (uvicorn --root-path), as FastAPI's own pages do.
    return str(request.scope.get("root_path", "")).rstrip("/")


def _openapi_url(app: FastAPI) -> str:
    assert app.openapi_url is not None, "the docs pages need the OpenAPI document"
    return app.openapi_url


def _asset(root: str, name: str) -> str:
    return f"{root}{STATIC_PREFIX}/{name}"
