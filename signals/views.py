from django.contrib.auth.decorators import login_required
from django.shortcuts import render

import collectors


@login_required
def dashboard(request):
    return render(request, "signals/dashboard.html", {"timeframes": list(collectors.TIMEFRAMES)})
