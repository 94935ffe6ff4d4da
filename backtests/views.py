"""The drift report's page: a form and, once asked, the report rendered here from the same
service the API answers with (backtests/drift.py)."""

from django.contrib.auth.decorators import login_required

import collectors
import strategies
from backtests import drift, services
from signals.views import render_page

FIELDS = ("strategy", "asset", "timeframe", "from", "to")


@login_required
def drift_page(request):
    asked = {name: request.GET.get(name, "").strip() for name in FIELDS}
    context = {
        "strategies": list(strategies.available()),
        "timeframes": list(collectors.TIMEFRAMES),
        "asked": asked,
    }
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
