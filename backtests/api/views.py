from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from backtests import services
from backtests.api import serializers
from backtests.models import Backtest
from botsinais.schema import ErrorSerializer


@extend_schema_view(
    create=extend_schema(
        request=serializers.BacktestRequestSerializer,
        responses={202: serializers.BacktestAcceptedSerializer},
        description="Queue a backtest; its progress and result come over /ws/signals/ and here.",
    ),
    destroy=extend_schema(
        responses={202: serializers.CancelledSerializer, 409: ErrorSerializer},
        description="Cancel a queued or running backtest; 409 when it has already ended.",
    ),
)
class BacktestViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A user's own backtests, newest first; staff see everyone's. Another user's is a 404."""

    queryset = Backtest.objects.select_related("requested_by").order_by("-created_at", "-id")
    serializer_class = serializers.BacktestSerializer
    filterset_fields = ["status", "strategy", "asset", "timeframe"]
    ordering_fields = ["created_at", "finished_at"]

    @property
    def throttle_scope(self) -> str | None:
        # Asking for one is throttled; reading (polling its progress) and cancelling are not.
        return "backtest" if self.action == "create" else None

    def get_queryset(self):
        # The blobs are read only where shown: the curve in the detail, trades on their own.
        unread = {"retrieve": ["trades_blob"], "trades": ["equity_curve"]}.get(
            self.action, ["trades_blob", "equity_curve"])
        queryset = self.queryset.defer(*unread)
        if self.request.user.is_staff:
            return queryset
        return queryset.filter(requested_by=self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return serializers.BacktestRequestSerializer
        if self.action == "retrieve":
            return serializers.BacktestDetailSerializer
        return self.serializer_class

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        backtest = services.request_backtest(serializer.validated_data["spec"], user=request.user)
        status_url = reverse("backtest-detail", args=[backtest.pk])
        return Response({"id": backtest.pk, "status_url": status_url},
                        status=status.HTTP_202_ACCEPTED)

    def destroy(self, request, *args, **kwargs):
        backtest = self.get_object()
        if not services.cancel_backtest(backtest, by=request.user):
            backtest.refresh_from_db(fields=["status"])
            ended = _("the backtest has already ended (%(status)s)") % {"status": backtest.status}
            return Response({"detail": ended},
                            status=status.HTTP_409_CONFLICT)
        return Response({"status": "cancelled"}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=serializers.TradeSerializer(many=True), filters=False)
    @action(detail=True)
    def trades(self, request, pk=None):
        """The backtest's trades, oldest first, a page at a time (empty until completed)."""
        table = self.get_object().trade_table()
        page = self.paginate_queryset(table)
        return self.get_paginated_response(serializers.TradeSerializer(page, many=True).data)
