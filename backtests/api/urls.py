from django.urls import include, path
from rest_framework.routers import SimpleRouter

from backtests.api import drift, views

# Not a DefaultRouter: its API root at /api/ would shadow the signals app's.
router = SimpleRouter()
# Before backtests/: its detail route would take "grids" for an id.
router.register("backtests/grids", views.GridRunViewSet, basename="grid")
router.register("backtests/walk-forward", views.WalkForwardViewSet, basename="walk-forward")
router.register("backtests", views.BacktestViewSet, basename="backtest")

urlpatterns = [
    # Before the router: its backtests/<pk>/ would take "drift" for an id.
    path("backtests/drift/", drift.DriftView.as_view(), name="backtest-drift"),
    path("", include(router.urls)),
]
