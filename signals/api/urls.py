from django.urls import include, path
from rest_framework.routers import DefaultRouter

from signals.api import views

router = DefaultRouter()
router.register("signals", views.SignalViewSet, basename="signal")
router.register("analyses", views.AnalysisRequestViewSet, basename="analysis")
router.register("strategies", views.StrategyViewSet, basename="strategy")
router.register("strategy-configs", views.StrategyConfigViewSet, basename="strategy-config")
router.register("watchlist", views.WatchlistViewSet, basename="watchlist")

urlpatterns = [
    path("auth/token/", views.LoginView.as_view(), name="api-token"),
    path("health/", views.HealthView.as_view(), name="health"),
    path("candles/", include("signals.api.candles")),
    path("assets/", include("signals.api.assets")),
    path("", include(router.urls)),
]
