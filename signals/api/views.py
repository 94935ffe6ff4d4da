from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from signals import health, performance, services
from signals.api import serializers
from signals.api.filters import SignalFilter
from signals.models import AnalysisRequest, Signal, SignalStatus


class SignalViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Signal.objects.order_by("-created_at")
    serializer_class = serializers.SignalSerializer
    filterset_class = SignalFilter
    ordering_fields = ["created_at", "confidence", "pnl", "asset", "strategy", "closed_at"]

    @action(detail=False)
    def active(self, request):
        self.queryset = self.queryset.filter(status=SignalStatus.ACTIVE)
        return self.list(request)

    @extend_schema(
        request=serializers.RequestAnalysisSerializer,
        responses={202: serializers.AnalysisAcceptedSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="request-analysis",
        serializer_class=serializers.RequestAnalysisSerializer,
        filterset_class=None,
    )
    def request_analysis(self, request):
        serializer = serializers.RequestAnalysisSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        analysis = services.request_analysis(user=request.user, **serializer.validated_data)
        status_url = request.build_absolute_uri(
            reverse("analysis-detail", args=[analysis.correlation_id])
        )
        return Response(
            {"correlation_id": analysis.correlation_id, "status_url": status_url},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="ISO 8601; default: 30 days before 'to'"),
            OpenApiParameter("to", str, description="ISO 8601; default: now"),
        ],
        responses=serializers.PerformanceSerializer,
    )
    @action(detail=False, filterset_class=None)
    def performance(self, request):
        period = serializers.PeriodQuerySerializer(data=request.query_params)
        period.is_valid(raise_exception=True)
        summary = performance.summarize(
            Signal.objects.all(), period.validated_data["from"], period.validated_data["to"]
        )
        return Response(serializers.PerformanceSerializer(summary).data)


class AnalysisRequestViewSet(
    mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet
):
    queryset = AnalysisRequest.objects.select_related("requested_by").order_by("-created_at")
    serializer_class = serializers.AnalysisRequestSerializer
    lookup_field = "correlation_id"
    filterset_fields = ["status", "asset", "timeframe", "source"]
    ordering_fields = ["created_at", "finished_at"]


class HealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request):
        report = health.check_all()
        code = (
            status.HTTP_200_OK if report["status"] == "up" else status.HTTP_503_SERVICE_UNAVAILABLE
        )
        return Response(report, status=code)
