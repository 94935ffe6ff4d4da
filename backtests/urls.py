from django.urls import path

from backtests import views

urlpatterns = [
    path("backtests/drift/", views.drift_page, name="drift-page"),
]
