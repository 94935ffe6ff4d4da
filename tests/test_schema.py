"""The OpenAPI schema at /api/schema/ says what the API answers: schemathesis generates requests
from it (valid and invalid) to every operation, the anonymous ones included, in-process through
the WSGI app as a staff user, and checks that no answer is a 5xx and every one is documented:
its status code, content type, headers and body."""

import pytest
import schemathesis
from django.core.signals import request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Per operation, generated only (schemathesis's coverage phase adds hundreds of explicit cases,
# minutes in all); CI replays the same examples every run (the hypothesis "ci" profile).
MAX_EXAMPLES = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Read at collection: schemathesis makes one test per operation from it. Over HTTPS, which
# the full-stack settings (the integration pass collects this module too) redirect to.
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/", get_wsgi_application(), base_url="https://localhost"
)


@pytest.fixture
def staff_token(db, staff_user) -> str:
    # The WSGI handler closes the connection after each request; the test database must stay
    # open for the whole test (Django's test client does the same).
    request_started.disconnect(close_old_connections)
    yield Token.objects.create(user=staff_user).key
    request_started.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    phases=[Phase.generate, Phase.shrink],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_answer_is_documented_and_none_is_a_server_error(case, staff_token):
    case.call_and_validate(headers={"Authorization": f"Token {staff_token}"}, checks=CHECKS)


def test_the_schema_documents_errors_pages_and_formats(anon_client):
    spec = anon_client.get("/api/schema/?format=json").json()
    paths, schemas = spec["paths"], spec["components"]["schemas"]
    active = paths["/api/signals/active/"]["get"]["responses"]
    assert active["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/PaginatedSignalList"
    )
    assert schemas["AnalysisRequest"]["properties"]["requested_by"]["nullable"] is True
    request = schemas["RequestAnalysis"]["properties"]
    assert request["asset"]["pattern"].startswith("^")
    timeframes = schemas[request["timeframe"]["allOf"][0]["$ref"].rsplit("/", 1)[1]]
    assert "5m" in timeframes["enum"]
    analysis = paths["/api/signals/request-analysis/"]["post"]["responses"]
    assert {"400", "403", "413", "429"} <= set(analysis)
    assert "Retry-After" in analysis["429"]["headers"]
    assert "404" in paths["/api/analyses/{correlation_id}/"]["get"]["responses"]
    assert "429" in paths["/api/auth/token/"]["post"]["responses"]
