"""The OpenAPI document: valid OpenAPI 3.1, in step with the routes, served with its page by every process."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from openapi_spec_validator import validate

from igot.openapi.document import build_document, operations
from igot.runtime import SERVICE_NAMES, create_app
from shared.settings import Settings
from tests.integration.processes import Deployment

Route = tuple[str, str]


def routes_of(services: tuple[str, ...], data_dir: Path) -> set[Route]:
    """The (method, path) pairs an app with these services answers; building it opens nothing."""
    app = create_app(Settings(data_dir=data_dir), mode="standalone", services=services)
    # `canonical` drops the patterns of path variables: `/{key:[0-9a-f]{24}}` is `/{key}`.
    return {(route.method, route.resource.canonical) for route in app.router.routes() if route.resource}


def documented() -> set[Route]:
    return {(operation.method.upper(), operation.path) for operation in operations()}


def test_the_document_is_valid_openapi_3_1() -> None:
    document = build_document("http://127.0.0.1:8080")
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_every_route_is_documented_and_nothing_else(tmp_path: Path) -> None:
    served = routes_of(SERVICE_NAMES, tmp_path)
    assert served - documented() == set(), "routes missing from the document"
    assert documented() - served == set(), "documented operations that no route serves"


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_alone_serves_the_contract_and_only_documented_routes(
    service: str, tmp_path: Path
) -> None:
    served = routes_of((service,), tmp_path)
    assert {("GET", "/openapi.json"), ("GET", "/docs")} <= served
    assert served <= documented()


def test_every_push_refusal_and_client_answer_is_documented() -> None:
    document = build_document()
    before_routing = {"400", "414", "431"}  # a request the server cannot read, on any path
    push = {"200", "400", "403", "404", "405", "410", "413", "422", "429", "503"} | before_routing
    for path in ("/{key}", "/{key}/{content}", "/{key}/{title}/{content}"):
        for method, spec in document["paths"][path].items():
            body_timeout = {"408"} if method == "post" else set()
            assert set(spec["responses"]) == push | body_timeout, (method, path)
    for path, methods in document["paths"].items():
        if path.startswith("/open/"):
            for method, spec in methods.items():
                # Every `ret` answers HTTP 200, as existing clients expect.
                assert set(spec["responses"]) == {"200"} | before_routing, (method, path)
    assert set(document["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"} | before_routing
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


async def test_every_process_serves_the_document_and_its_page(deployment: Deployment) -> None:
    expected = build_document()
    async with aiohttp.ClientSession() as session:
        for process in deployment.processes:
            async with session.get(f"{process.url}/openapi.json") as response:
                assert response.status == 200
                assert response.content_type == "application/json"
                served = await response.json()
            assert served["paths"] == expected["paths"]
            assert served["components"] == expected["components"]
            assert [server["url"].startswith("http://") for server in served["servers"]] == [True]
            async with session.get(f"{process.url}/docs") as response:
                assert response.status == 200
                assert response.content_type == "text/html"
                assert "default-src 'none'" in response.headers["Content-Security-Policy"]
                page = await response.text()
            for operation in operations():
                assert f'id="{operation.spec["operationId"]}"' in page
            # Rendered from local code: no script, nothing loaded from elsewhere.
            assert "<script" not in page.lower()
            assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
