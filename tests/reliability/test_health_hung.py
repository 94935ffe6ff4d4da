"""/api/health/ answers fast whatever hangs, and tells the truth after Redis loses its data.

A Redis server of the test's own (free port) backs the cache and the channel layer of a web server
process on the test database: SIGSTOP leaves it accepting connections but never answering, as
a hung server does; FLUSHALL loses everything it held.
"""

import os
import signal
import subprocess
import sys

import pytest
import redis
import requests

from tests.conftest import ROOT, free_port, running_web_server, subprocess_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The server's deadline for its checks; the client allows it the deadline and 1.5 s more, where
# the answer used to take 19 s with Redis hung.
HEALTH_CHECK_TIMEOUT = 1.0
CLIENT_TIMEOUT = 2.5


# One Redis and one web process for the module: starting them is most of the time taken.
@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_timeout=2)
    try:
        wait_until(lambda: _answers(client), timeout=20, interval=0.1)
        yield server, client, f"redis://127.0.0.1:{port}/0"
    finally:
        os.kill(server.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def _answers(client: redis.Redis) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def stack_env(own_redis, django_db_setup):
    env = subprocess_env(
        HEALTH_CHECK_TIMEOUT=str(HEALTH_CHECK_TIMEOUT),
    )
    env["REDIS_URL"] = own_redis[2]
    return env


@pytest.fixture(scope="module")
def web(stack_env):
    with running_web_server(stack_env, "web-health-hung.log") as url:
        yield url


def test_hung_redis_is_named_within_the_deadline(own_redis, web):
    server, _, _ = own_redis
    assert requests.get(f"{web}/api/health/", timeout=10).status_code == 200

    os.kill(server.pid, signal.SIGSTOP)
    try:
        response = requests.get(f"{web}/api/health/", timeout=CLIENT_TIMEOUT)
    finally:
        os.kill(server.pid, signal.SIGCONT)

    assert response.status_code == 503
    body = response.json()
    assert {"cache", "channel_layer"} <= set(body["failing"])
    assert "database" not in body["failing"] and "broker" not in body["failing"]
    for name in ("cache", "channel_layer"):
        assert body["components"][name]["error"] == f"no answer within {HEALTH_CHECK_TIMEOUT:g} s"


def test_worker_heartbeat_survives_redis_losing_its_data(own_redis, stack_env, web):
    _, client, _ = own_redis
    # What beat makes a worker run every 30 s, run in a process of the stack's own.
    beat = "from signals.tasks import publish_heartbeat; publish_heartbeat()"
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", beat], cwd=ROOT, env=stack_env, check=True
    )
    client.flushall()

    response = requests.get(f"{web}/api/health/", timeout=10)
    assert response.json()["worker"]["status"] == "up"
    assert response.status_code == 200, response.json()
