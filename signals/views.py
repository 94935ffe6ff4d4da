"""The dashboard's pages. Each renders a template and a config the page's script reads; the data
itself comes from the REST API and the live feed, so the pages show exactly what the API offers."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

import collectors
import strategies
from market.models import running_data_source
from signals import reasons
from signals.api.filters import SignalFilter
from signals.api.views import SignalViewSet
from signals.events import BACKTEST_COMPLETED, BACKTEST_FAILED, BACKTEST_PROGRESS
from signals.models import AnalysisRequest, Signal
from signals.routing import SIGNALS_WS_PATH
from strategies import grid as grids
from strategies.backtest import MODES as BACKTEST_MODES

# The backtests API (backtests/api, docs in /api/docs/); its routes live in the backtests app.
BACKTESTS_API_PATH = "/api/backtests/"

# Labels of the history filters and of the values they choose from; a filter the API adds later
# (e.g. the data source) shows up on its own, labelled by its name until it gets an entry here.
FILTER_LABELS = {
    "status": _("Status"),
    "result": _("Result"),
    "asset": _("Asset"),
    "strategy": _("Strategy"),
    "timeframe": _("Timeframe"),
    "direction": _("Direction"),
    "source": _("Data source"),
    "created_after": _("From"),
    "created_before": _("To"),
}
VALUE_LABELS = {
    "active": _("active"),
    "closed": _("closed"),
    "expired": _("expired"),
    "cancelled": _("cancelled"),
    "win": _("win"),
    "loss": _("loss"),
    "none": _("none"),
    "long": _("long"),
    "short": _("short"),
    "demo": _("demo"),
    "live": _("live"),
    "import": _("import"),
    "external": _("external"),
    "pending": _("pending"),
    "running": _("running"),
    "completed": _("completed"),
    "failed": _("failed"),
    "queued": _("queued"),
    "every_signal": _("every signal"),
    "one_position": _("one position at a time"),
    # How a backtest's trade ended (strategies/backtest.py exit reasons).
    "target": _("target"),
    "stop": _("stop"),
    "gap": _("gap past a level"),
    "ambiguous": _("both levels in one bar"),
    "expiry": _("expiry"),
}


def page_config(request, **extra) -> dict:
    """What every page's script needs: where the API and the live feed are, who is looking."""
    return {
        "csrf_token": get_token(request),
        "ws_path": "/" + SIGNALS_WS_PATH,
        # The page's data is as of now: the live feed catches up from here.
        "server_time": timezone.now().isoformat(),
        "login_url": reverse("login"),
        # The record shown is the one of the data source the platform runs on.
        "source": running_data_source(),
        "username": request.user.get_username(),
        "is_staff": request.user.is_staff,
        "page_size": settings.REST_FRAMEWORK["PAGE_SIZE"],
        "timeframes": list(collectors.TIMEFRAMES),
        "timeframe_seconds": dict(collectors.TIMEFRAMES),
        "strategies": list(strategies.available()),
        "labels": {key: str(label) for key, label in VALUE_LABELS.items()},
        "urls": {
            "active": reverse("signal-active"),
            "signals": reverse("signal-list"),
            "request_analysis": reverse("signal-request-analysis"),
            "analyses": reverse("analysis-list"),
            "performance": reverse("signal-performance"),
            "candles": reverse("candles"),
            "strategies": reverse("strategy-list"),
            "strategy_configs": reverse("strategy-config-list"),
            "watchlist": reverse("watchlist-list"),
            "signal_page": reverse("signal-page", args=["00000000-0000-0000-0000-000000000000"]),
        },
        **extra,
    }


def history_filters() -> list[dict]:
    """The signal list's filters as the page draws them, read from the API's own filter set."""
    choices_for = {
        "strategy": list(strategies.available()),
        "timeframe": list(collectors.TIMEFRAMES),
    }
    filters = []
    for name, spec in SignalFilter.base_filters.items():
        field = spec.field_name or name
        entry = {
            "name": name,
            "label": str(FILTER_LABELS.get(name, name.replace("_", " ").capitalize())),
            "field": field,
            "lookup": spec.lookup_expr,
        }
        choices = spec.extra.get("choices")
        if callable(choices):
            choices = choices()
        if choices:
            entry.update(kind="choice", choices=[str(value) for value, _label in choices])
        elif name in choices_for:
            entry.update(kind="choice", choices=choices_for[name])
        elif spec.lookup_expr in ("gte", "lte") and field.endswith("_at"):
            entry["kind"] = "date"
        else:
            entry["kind"] = "text"
        filters.append(entry)
    return filters


def render_page(request, template: str, context: dict | None = None, **config):
    context = {"config": page_config(request, **config), **(context or {})}
    return render(request, template, context)


@login_required
def dashboard(request):
    return render_page(
        request, "signals/dashboard.html", {"timeframes": list(collectors.TIMEFRAMES)}
    )


@login_required
def signal_list(request):
    return render_page(
        request,
        "signals/signal_list.html",
        filters=history_filters(),
        ordering_fields=SignalViewSet.ordering_fields,
    )


@login_required
def signal_detail(request, signal_id):
    signal = get_object_or_404(
        Signal.objects.select_related("model_version").defer("model_version__model_blob"),
        pk=signal_id,
    )
    analysis = None
    if signal.correlation_id:
        analysis = AnalysisRequest.objects.filter(correlation_id=signal.correlation_id).first()
    context = {
        "signal": signal,
        "reason": reasons.explain(signal.strategy, signal.direction, signal.entry_price,
                                  signal.indicators, signal.parameters),
        "indicators": reasons.indicator_rows(signal.indicators),
        "parameters": reasons.parameter_rows(signal.strategy, signal.parameters),
        "analysis": analysis,
        "analysis_status": VALUE_LABELS.get(analysis.status, analysis.status) if analysis else "",
        "strategy_label": signal.strategy.replace("_", " "),
        "strength_percent": round(100 * signal.confidence),
        **probability_context(signal),
    }
    return render_page(
        request,
        "signals/signal_detail.html",
        context,
        signal_url=reverse("signal-detail", args=[signal.pk]),
        signal_id=str(signal.pk),
    )


def probability_context(signal: Signal) -> dict:
    """The signal's probability and its model version's held-out metrics, when it has one."""
    if signal.probability is None:
        return {}
    metrics = signal.model_version.metrics if signal.model_version else {}
    return {"probability_percent": round(100 * signal.probability),
            "held_out": metrics.get("model"), "base_rate": metrics.get("base_rate"),
            "heuristic": metrics.get("heuristic")}


@login_required
def performance_page(request):
    context = {
        "strategies": list(strategies.available()),
        "timeframes": list(collectors.TIMEFRAMES),
    }
    return render_page(request, "signals/performance.html", context)


@login_required
def strategies_page(request):
    if not request.user.is_staff:
        raise PermissionDenied  # the API refuses their writes too
    context = {"timeframes": list(collectors.TIMEFRAMES)}
    return render_page(request, "signals/strategies.html", context)


@login_required
def backtests_page(request, backtest_id: int | None = None):
    """The backtests: the form, the list with live progress, one backtest's detail (the URL's
    id, when given) and two side by side."""
    context = {
        "strategies": list(strategies.available()),
        "timeframes": list(collectors.TIMEFRAMES),
        "modes": [(mode, VALUE_LABELS.get(mode, mode)) for mode in BACKTEST_MODES],
        "default_days": settings.BACKTEST_DEFAULT_DAYS,
    }
    return render_page(
        request,
        "signals/backtests.html",
        context,
        backtest_id=backtest_id,
        backtest_events={"progress": BACKTEST_PROGRESS, "completed": BACKTEST_COMPLETED,
                         "failed": BACKTEST_FAILED},
        backtest_urls={"api": BACKTESTS_API_PATH,
                       "page": reverse("backtests-page"),
                       "detail_page": reverse("backtest-page", args=[0])},
    )


@login_required
def research_page(request):
    """Parameter grids (ranking and heatmap) and walk-forward tests (in- against out-of-sample
    per window), asked for and read through /api/backtests/grids/ and /walk-forward/."""
    context = {
        "strategies": list(strategies.available()),
        "timeframes": list(collectors.TIMEFRAMES),
        "modes": [(mode, VALUE_LABELS.get(mode, mode)) for mode in BACKTEST_MODES],
        "metrics": grids.ranked_metrics(),
        "default_metric": grids.DEFAULT_METRIC,
        "default_minimum_trades": grids.DEFAULT_MINIMUM_TRADES,
    }
    return render_page(request, "signals/research.html", context,
                       research_urls={"grids": f"{BACKTESTS_API_PATH}grids/",
                                      "walk_forward": f"{BACKTESTS_API_PATH}walk-forward/"})
