from django.urls import path

from signals import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("signals/", views.signal_list, name="signal-list-page"),
    path("signals/<uuid:signal_id>/", views.signal_detail, name="signal-page"),
    path("performance/", views.performance_page, name="performance-page"),
    path("backtests/", views.backtests_page, name="backtests-page"),
    path("backtests/<int:backtest_id>/", views.backtests_page, name="backtest-page"),
    path("backtests/research/", views.research_page, name="research-page"),
    path("strategies/", views.strategies_page, name="strategies-page"),
]
