"""The OpenAPI document: complete per DESIGN.md §5, and true (schemathesis against the server).

schemathesis generates requests from `/api/openapi.json` — valid ones and deliberately broken
ones — sends them to the served app with an HR token, and checks that nothing answers 5xx and
that every status code, content type and body is one the document declares. Bounded to a few
examples per operation so the run stays within a minute or two.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import Org
from tests.support.served import Client

CONTRACT = {
    "/api/employees": {"post"},
    "/api/cycles": {"post"},
    "/api/cycles/{cycle_id}": {"get"},
    "/api/cycles/{cycle_id}/history": {"get"},
    "/api/cycles/{cycle_id}/preparations": {"post"},
    "/api/cycles/{cycle_id}/interview": {"post"},
    "/api/cycles/{cycle_id}/interview/held": {"post"},
    "/api/cycles/{cycle_id}/agreement": {"post"},
    "/api/cycles/{cycle_id}/signatures": {"post"},
    "/api/cycles/{cycle_id}/reviews": {"post"},
    "/api/cycles/{cycle_id}/evaluation": {"post"},
    "/api/cycles/{cycle_id}/restart": {"post"},
    "/api/followups": {"get"},
    "/api/imports": {"post"},
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def test_the_document_covers_the_contract(hr: Client) -> None:
    reply = Client(hr.base).get("/api/openapi.json")  # public: no token needed
    assert reply.status == 200
    document: dict[str, Any] = reply.json
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, methods in CONTRACT.items():
        assert set(paths[path]) >= methods, path
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in paths.items():
        for method, operation in item.items():
            assert operation["security"] == [{"bearer": []}]
            errors = {code: r for code, r in operation["responses"].items() if code >= "400"}
            assert "401" in errors, (path, method)
            for response in errors.values():
                assert list(response["content"]) == ["application/problem+json"]
            if method == "post":
                headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
                assert "Idempotency-Key" in headers, path
                # An import pins no version; every other write can.
                assert "If-Match" in headers or path == "/api/imports", path
    new_cycle = document["components"]["schemas"]["NewCycle"]
    assert new_cycle["properties"]["reason"]["enum"] == ["periodic", "problem", "on_demand"]
    assert set(new_cycle["required"]) == {"employee_id", "manager_id", "reason"}
    imports = paths["/api/imports"]["post"]
    assert list(imports["requestBody"]["content"]) == ["text/csv"]
    assert {p["name"] for p in imports["parameters"] if p["in"] == "query"} == {
        "dry_run",
        "skip_invalid",
    }
    assert {"200", "413", "415", "422"} <= set(imports["responses"])
    problem = document["components"]["schemas"]["Problem"]["properties"]
    assert "rows" in problem


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_server_keeps_to_its_document(
    base_url: str, hr: Client, org: Org, mode: GenerationMode
) -> None:
    """Every operation, with valid and with invalid input, one real cycle in the database."""
    cycle_id = org.start()
    schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json")
    auth = {"Authorization": f"Bearer {hr.token}"}
    failures: list[str] = []
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # a part of the document schemathesis cannot read
            raise result.err()
        operations.append(result.ok())
    assert len(operations) >= len(CONTRACT)
    sent: list[int] = []
    for operation in operations:
        # Valid input aims at the real cycle, so commands get past "not found" to the rules.
        known = {"cycle_id": cycle_id} if mode is GenerationMode.POSITIVE else None
        strategy = operation.as_strategy(mode, path_parameters=known)

        @given(case=strategy)
        @settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            response = case.call_and_validate(headers=auth, checks=CHECKS)
            sent.append(response.status_code)

        try:
            exercise()
        except Exception as error:
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)
    assert len(sent) >= 5 * len(operations)
    if mode is GenerationMode.POSITIVE:
        assert any(200 <= status < 300 for status in sent)
