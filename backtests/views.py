"""The drift report's page: a form and, once asked, the report rendered here from the same
service the API answers with (backtests/drift.py)."""

import math

from django.contrib.auth.decorators import login_required
from django.utils.translation import gettext as _

import collectors
import strategies
from backtests import drift, services
from botsinais.throttling import ScopedRateThrottle
from signals.views import render_page

FIELDS = ("strategy", "asset", "timeframe", "from", "to")


class DriftReportScope:
    """The API's drift view's throttle scope: the page runs the same backtest in the request,
    so both share one budget per user."""

    throttle_scope = "backtest"


@login_required
def drift_page(request):
    asked = {name: request.GET.get(name, "").strip() for name in FIELDS}
    context = {
        "strategies": list(strategies.available()),
        "timeframes": list(collectors.TIMEFRAMES),
        "asked": asked,
    }
    throttle = ScopedRateThrottle()
    if asked["from"] and not throttle.allow_request(request, DriftReportScope):
        wait = math.ceil(throttle.wait() or 1)
        context["error"] = _("Too many reports asked for; try again in %(seconds)d s.") % {
            "seconds": wait}
        response = render_page(request, "backtests/drift.html", context)
        response.status_code, response["Retry-After"] = 429, str(wait)
        return response
    if asked["from"]:
        try:
            result = drift.drift_report(
                strategy=asked["strategy"], asset=asked["asset"], timeframe=asked["timeframe"],
                start=asked["from"], end=asked["to"])
        except services.BacktestInputError as exc:
            context["error_field"], context["error"] = exc.field, exc.reason
        except (services.NoCandlesError, collectors.MarketDataError) as exc:
            context["error"] = str(exc)
        else:
            context["drift"] = result
            context["counts"] = result.report.counts()
    return render_page(request, "backtests/drift.html", context)
