from django.urls import include, path
from rest_framework.routers import SimpleRouter

from backtests.api import views

# Not a DefaultRouter: its API root at /api/ would shadow the signals app's.
router = SimpleRouter()
router.register("backtests", views.BacktestViewSet, basename="backtest")

urlpatterns = [path("", include(router.urls))]
