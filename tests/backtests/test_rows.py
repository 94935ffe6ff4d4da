"""The one row lifecycle (backtests/rows.py) that backtests, grids and walk-forwards share:
a publish the broker refuses fails the row, a claim is taken once, an end is guarded."""

import kombu.exceptions
import pandas as pd
import pytest

from backtests import rows, services
from backtests.models import Backtest, BacktestStatus, GridRun, WalkForward
from tests.backtests.conftest import END, START

pytestmark = pytest.mark.django_db

REQUEST = {"strategy": "mean_reversion", "asset": "BTCUSDT", "timeframe": "1h",
           "start": pd.Timestamp(START), "end": pd.Timestamp(END), "fee_percent": 0.1}
RESEARCH = {**REQUEST, "metric": "profit_factor", "minimum_trades": 1}
EXTRA = {Backtest: {}, GridRun: {**RESEARCH, "set_count": 1},
         WalkForward: {**RESEARCH, "train_bars": 100, "test_bars": 50, "embargo_bars": 5}}
MODELS = pytest.mark.parametrize("model", [Backtest, GridRun, WalkForward],
                                 ids=lambda model: model.__name__)


def make_row(model, user, **fields):
    return model.objects.create(requested_by=user, **{**REQUEST, **EXTRA[model], **fields})


class RefusingTask:
    """A task whose broker does not take the message."""

    def __init__(self):
        self.published = []

    def apply_async(self, args, **options):
        self.published.append((args, options))
        raise kombu.exceptions.OperationalError("connection refused")


@MODELS
def test_a_row_the_broker_does_not_take_is_failed_with_that_reason(model, user):
    row = make_row(model, user)
    task = RefusingTask()
    assert not rows.dispatch_row(model, row.pk, task, time_limit=None)
    [(args, options)] = task.published
    assert args == (row.pk,) and options["confirm_timeout"] == options["timeout"]
    assert options["time_limit"] is None  # the caller's options reach apply_async
    row.refresh_from_db()
    assert row.status == BacktestStatus.FAILED and row.finished_at is not None
    assert "the task queue did not take it (OperationalError)" in row.error


@MODELS
def test_a_queued_row_is_claimed_once_and_a_redelivery_fails_it(model, user):
    row = make_row(model, user)
    assert rows.claim_row(model, row.pk)
    row.refresh_from_db()
    assert row.status == BacktestStatus.RUNNING and row.started_at is not None
    assert not rows.claim_row(model, row.pk)  # the same message again: its worker was lost
    row.refresh_from_db()
    assert row.status == BacktestStatus.FAILED and row.error == rows.LOST_WORKER


@MODELS
def test_a_cancel_and_a_finish_never_both_win(model, user):
    row = make_row(model, user, status=BacktestStatus.RUNNING)
    assert rows.finish_row(model, row.pk, BacktestStatus.CANCELLED, error="cancelled")
    assert not rows.finish_row(model, row.pk, BacktestStatus.COMPLETED)
    assert not rows.finish_row(model, row.pk, BacktestStatus.FAILED,
                               only_from=BacktestStatus.RUNNING, error="late")
    row.refresh_from_db()
    assert row.status == BacktestStatus.CANCELLED and row.error == "cancelled"


def test_only_from_ends_only_a_row_in_that_status(user):
    row = make_row(GridRun, user)  # queued
    assert not rows.finish_row(GridRun, row.pk, BacktestStatus.FAILED,
                               only_from=BacktestStatus.RUNNING)
    row.refresh_from_db()
    assert row.status == BacktestStatus.QUEUED


def test_a_refused_backtest_tells_its_user(user, monkeypatch):
    from backtests import tasks

    published = []
    monkeypatch.setattr(services.events, "publish", published.append)
    monkeypatch.setattr(tasks.run_backtest, "apply_async", RefusingTask().apply_async)
    backtest = make_row(Backtest, user)
    assert not services.dispatch_backtest(backtest.pk)
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.FAILED
    assert [(event.event_type, event.data["status"]) for event in published] == [
        ("BacktestFailed", "failed")]
