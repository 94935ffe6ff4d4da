from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, status, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

import strategies
from botsinais.throttling import LoginRateThrottle
from signals import health, performance, services
from signals.api import serializers
from signals.api.filters import SignalFilter
from signals.models import AnalysisRequest, Signal, SignalStatus, StrategyConfig, Watchlist


class IsStaffOrReadOnly(BasePermission):
    """Any authenticated user reads; only staff writes."""

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)


class SignalViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Signal.objects.order_by("-created_at")
    serializer_class = serializers.SignalSerializer
    filterset_class = SignalFilter
    ordering_fields = ["created_at", "confidence", "probability", "pnl", "asset", "strategy",
                       "closed_at"]
    throttle_scope = None  # reads are not throttled; request-analysis sets its own

    @extend_schema(responses=serializers.SignalSerializer(many=True))
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
        throttle_scope="analysis",
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
        parameters=[serializers.PerformanceQuerySerializer],
        responses=serializers.PerformanceSerializer,
    )
    @action(detail=False, filterset_class=None)
    def performance(self, request):
        query = serializers.PerformanceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters, start, end = (query.validated_data[k] for k in ("filters", "from", "to"))
        summary = performance.summarize(Signal.objects.filter(**filters), start, end)
        summary["source"] = filters["source"]
        return Response(serializers.PerformanceSerializer(summary).data)


class AnalysisRequestViewSet(
    mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet
):
    """A user's own analysis requests; staff see everyone's. Another user's is a 404."""

    queryset = AnalysisRequest.objects.select_related("requested_by").order_by("-created_at")
    serializer_class = serializers.AnalysisRequestSerializer
    lookup_field = "correlation_id"
    filterset_fields = ["status", "asset", "timeframe", "source"]
    ordering_fields = ["created_at", "finished_at"]

    def get_queryset(self):
        if self.request.user.is_staff:
            return self.queryset
        return self.queryset.filter(requested_by=self.request.user)


@extend_schema_view(
    post=extend_schema(
        request=AuthTokenSerializer,
        responses=inline_serializer("Token", {"token": drf_serializers.CharField()}),
        auth=[],
    )
)
class LoginView(ObtainAuthToken):
    """POST username and password, get the user's API token; guesses are rate limited."""

    parser_classes = api_settings.DEFAULT_PARSER_CLASSES  # DRF's view names its own three
    throttle_classes = [LoginRateThrottle]


class StrategyViewSet(viewsets.ViewSet):
    """The registered strategies, their parameters and defaults."""

    lookup_field = "name"
    serializer_class = serializers.StrategySerializer

    def list(self, request):
        registered = list(strategies.available().values())
        return Response(serializers.StrategySerializer(registered, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "name", str, OpenApiParameter.PATH, enum=[*strategies.available()]
            )
        ]
    )
    def retrieve(self, request, name=None):
        try:
            strategy_class = strategies.get(name)
        except strategies.UnknownStrategy:
            raise Http404 from None
        return Response(serializers.StrategySerializer(strategy_class).data)


class UniqueRowsMixin:
    """For rows under a unique constraint: losing a race to the same row is a 400, not a 500.

    The serializer's uniqueness check and the write are separate steps, so two requests for the
    same row can both pass the check; the database stops the second. Validating it again then
    finds the row the first one wrote and answers as for any duplicate.
    """

    def perform_create(self, serializer):
        self.save_unique(serializer)

    def perform_update(self, serializer):
        self.save_unique(serializer)

    def save_unique(self, serializer, **fields):
        try:
            with transaction.atomic():
                serializer.save(**fields)
        except IntegrityError:
            serializer.run_validation(serializer.initial_data)
            raise


class StrategyConfigViewSet(UniqueRowsMixin, viewsets.ModelViewSet):
    """Which strategies run where, with which parameters; the most specific config wins."""

    queryset = StrategyConfig.objects.select_related("updated_by").order_by(
        "strategy", "asset", "timeframe"
    )
    serializer_class = serializers.StrategyConfigSerializer
    permission_classes = [IsAuthenticated, IsStaffOrReadOnly]
    filterset_fields = ["strategy", "asset", "timeframe", "enabled"]
    ordering_fields = ["strategy", "asset", "timeframe", "updated_at"]

    def perform_create(self, serializer):
        self.save_unique(serializer, updated_by=self.request.user)

    def perform_update(self, serializer):
        self.save_unique(serializer, updated_by=self.request.user)


class WatchlistViewSet(UniqueRowsMixin, viewsets.ModelViewSet):
    """Assets and timeframes the scheduled scan analyses."""

    queryset = Watchlist.objects.order_by("asset", "timeframe")
    serializer_class = serializers.WatchlistSerializer
    permission_classes = [IsAuthenticated, IsStaffOrReadOnly]
    filterset_fields = ["asset", "timeframe", "enabled"]
    ordering_fields = ["asset", "timeframe", "updated_at"]


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
