from django.urls import path

from signals import views

urlpatterns = [path("", views.dashboard, name="dashboard")]
