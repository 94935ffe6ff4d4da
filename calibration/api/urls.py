from django.urls import include, path
from rest_framework.routers import SimpleRouter

from calibration.api import views

# Not a DefaultRouter: its API root at /api/ would shadow the signals app's.
router = SimpleRouter()
router.register("models", views.ModelVersionViewSet, basename="model")

urlpatterns = [path("", include(router.urls))]
