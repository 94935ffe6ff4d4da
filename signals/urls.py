from django.urls import path

from signals import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("signals/", views.signal_list, name="signal-list-page"),
    path("signals/<uuid:signal_id>/", views.signal_detail, name="signal-page"),
    path("performance/", views.performance_page, name="performance-page"),
    path("strategies/", views.strategies_page, name="strategies-page"),
]
