"""Which failures are worth another try, how long to wait, and how to write past a lost
database connection. One place for the rule: the analysis service and the tasks both use it."""

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import amqp.exceptions
import kombu.exceptions
from django import db

import collectors

log = logging.getLogger(__name__)
T = TypeVar("T")

# The database went away or refused us (restart, failover, a killed backend, too many clients).
DATABASE_CONNECTION_ERRORS = (db.OperationalError, db.InterfaceError)
# The broker did not take a message: down, unreachable, no confirm in time, or a nack.
BROKER_ERRORS = (
    kombu.exceptions.OperationalError,
    amqp.exceptions.MessageNacked,
    ConnectionError,
    TimeoutError,
)
# Worth another attempt later. A bad symbol, an unsupported timeframe, a malformed answer or
# a bad parameter is not: it would fail the same way every time.
TRANSIENT_ERRORS = (
    *DATABASE_CONNECTION_ERRORS,
    *BROKER_ERRORS,
    collectors.RateLimited,
    collectors.UpstreamUnavailable,
)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT_ERRORS)


def retry_delay(
    attempt: int,
    *,
    base: float,
    maximum: float,
    retry_after: float | None = None,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds before attempt + 1: base * 2^(attempt - 1) capped at maximum, then a random
    point in its upper half (so retries of many requests spread out), never under retry_after."""
    ceiling = min(maximum, base * 2 ** max(0, attempt - 1))
    return max(ceiling * (0.5 + jitter() / 2), retry_after or 0.0)


def with_fresh_connection(write: Callable[[], T], *, tries: int = 3, pause: float = 0.5) -> T:
    """write(), again on a new connection when the database connection was lost.

    Django keeps using a connection that died under it until someone closes it; the failure
    path must not reuse it, or the row it records stays running for good.
    """
    for attempt in range(1, tries + 1):
        try:
            return write()
        except DATABASE_CONNECTION_ERRORS:
            if attempt == tries or db.connection.in_atomic_block:
                raise  # inside a transaction only its owner can start over
            log.warning("database connection lost; retrying on a new one", exc_info=True)
            db.close_old_connections()
            time.sleep(pause * attempt)
    raise AssertionError("unreachable")
