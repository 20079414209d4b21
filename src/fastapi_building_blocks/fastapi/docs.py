"""`/docs` and `/redoc` that render with no internet access.

FastAPI's pages load Swagger UI, ReDoc, a favicon and Google Fonts from CDNs: behind a
firewall, on a laptop offline or in a locked-down cluster they render blank. Here the
same pages load their assets from the service itself. The assets come from the
`fastapi-offline` package (Swagger UI, ReDoc and a favicon, kept current by its
maintainers; only its files are used, not its app class), served with Starlette's
`StaticFiles`, as FastAPI documents for self-hosted docs assets.

    app = FastAPI(docs_url=None, redoc_url=None)   # FastAPI's CDN pages off
    install_offline_docs(app)                      # the same paths, assets served locally
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the assets are mounted.
ASSETS_PATH = "/docs-assets"


def _assets_directory() -> Path:
    try:
        return Path(str(files("fastapi_offline") / "static"))
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "offline docs need the fastapi-offline package: "
            "pip install 'fastapi-building-blocks[fastapi]'",
            name="fastapi_offline",
        ) from None


def install_offline_docs(
    app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc"
) -> None:
    """Serve Swagger UI at `docs_url` and ReDoc at `redoc_url` from local assets."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError(
            "create the app with FastAPI(docs_url=None, redoc_url=None): its own docs pages "
            "load from a CDN and would shadow these"
        )
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("the app has no OpenAPI document (openapi_url=None) to show")
    app.mount(ASSETS_PATH, StaticFiles(directory=_assets_directory()), name="docs-assets")
    favicon = f"{ASSETS_PATH}/favicon.png"
    oauth2_redirect = f"{docs_url}/oauth2-redirect"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=favicon,
            oauth2_redirect_url=oauth2_redirect,
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )
