from django.contrib.auth.decorators import login_required
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

import collectors
from market.models import running_data_source
from signals.routing import SIGNALS_WS_PATH


@login_required
def dashboard(request):
    config = {
        "csrf_token": get_token(request),
        "ws_path": "/" + SIGNALS_WS_PATH,
        # The page's data is as of now: the live feed catches up from here.
        "server_time": timezone.now().isoformat(),
        "login_url": reverse("login"),
        # The record shown is the one of the data source the platform runs on.
        "source": running_data_source(),
        "urls": {
            "active": reverse("signal-active"),
            "signals": reverse("signal-list"),
            "request_analysis": reverse("signal-request-analysis"),
            "performance": reverse("signal-performance"),
            "candles": reverse("candles"),
        },
    }
    context = {
        "timeframes": list(collectors.TIMEFRAMES),
        "config": config,
        "source": config["source"],
    }
    return render(request, "signals/dashboard.html", context)
