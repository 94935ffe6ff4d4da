from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response

from botsinais.api_errors import JSONParser
from botsinais.schema import ErrorSerializer
from calibration import services
from calibration.api import serializers
from calibration.models import ModelVersion


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Model versions, newest first: why each was activated or rejected, and its held-out
    calibration. Staff may ask for a retrain."""

    queryset = ModelVersion.objects.select_related("requested_by").defer("model_blob").order_by(
        "-created_at", "-id")
    serializer_class = serializers.ModelVersionSerializer
    filterset_fields = ["status"]
    ordering_fields = ["created_at"]

    @property
    def throttle_scope(self) -> str | None:
        return "retrain" if self.action == "retrain" else None

    def get_permissions(self):
        if self.action == "retrain":
            return [IsAuthenticated(), IsAdminUser()]
        return super().get_permissions()

    @extend_schema(
        request=serializers.RetrainRequestSerializer,
        responses={202: serializers.RetrainAcceptedSerializer, 415: ErrorSerializer,
                   503: ErrorSerializer},
        description="Queue a retrain on the models queue (staff only). It is skipped when the "
                    "labelled data is unchanged since a version, unless force. A JSON body "
                    "(or none); 503 when the task queue did not take it.",
    )
    @action(detail=False, methods=["post"], filter_backends=[], parser_classes=[JSONParser],
            serializer_class=serializers.RetrainRequestSerializer)
    def retrain(self, request):
        serializer = serializers.RetrainRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.request_retrain(user=request.user, **serializer.validated_data)
        except services.RetrainNotQueued as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"detail": _("retrain queued"), "versions_url": reverse("model-list")},
                        status=status.HTTP_202_ACCEPTED)
