"""The database connection dies mid-analysis: the request still ends, never stuck running."""

import psycopg
import pytest
from django.db import connection

from signals import services
from signals.models import AnalysisRequest
from tests.reliability.conftest import WORKER_APPLICATION_NAME, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def terminate_backends(where: str, *params) -> int:
    """pg_terminate_backend on this test database's matching backends, from a connection of
    its own (so it survives killing the others)."""
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or "postgres",
        dbname=db["NAME"],
        autocommit=True,
    ) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = current_database() AND pid <> pg_backend_pid() AND {where}",
            params,
        ).fetchall()
    return len(rows)


def test_failure_is_recorded_after_the_connection_died():
    analysis = AnalysisRequest.objects.create(asset="BTCUSDT", timeframe="5m")
    analysis, started = services.start_attempt(str(analysis.correlation_id))
    assert started
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (own_backend,) = cursor.fetchone()
    assert terminate_backends("pid = %s", own_backend) == 1

    services.fail(analysis, "upstream said no")

    analysis.refresh_from_db()
    assert analysis.status == "failed"
    assert analysis.error == "upstream said no"


def test_worker_whose_connection_is_killed_mid_analysis_ends_the_request(
    api_client, upstream, worker
):
    upstream.add_symbol("DBKILLUSDT")
    stalled = upstream.hold("DBKILLUSDT")
    response = api_client.post(
        "/api/signals/request-analysis/", {"asset": "DBKILLUSDT"}, format="json"
    )
    correlation_id = response.json()["correlation_id"]
    wait_for_status(correlation_id, "running")

    assert terminate_backends("application_name = %s", WORKER_APPLICATION_NAME) >= 1
    stalled.set()

    analysis = wait_for_status(correlation_id, "completed", "failed")
    assert analysis.status == "completed", analysis.error
    assert analysis.attempts == 2
    assert "OperationalError" in analysis.error or analysis.error == ""
