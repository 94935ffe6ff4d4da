"""The floor of a Celery task round trip: a task that does nothing, over the same RabbitMQ,
answered through the rpc:// backend. bench/realtime.py starts a worker for it:
celery -A bench.floor worker (broker from BENCH_FLOOR_BROKER_URL)."""

import os

from celery import Celery

QUEUE = "bench-floor"

app = Celery("bench-floor", broker=os.environ.get("BENCH_FLOOR_BROKER_URL"), backend="rpc://")
app.conf.update(
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)


@app.task
def nothing() -> None:
    return None
