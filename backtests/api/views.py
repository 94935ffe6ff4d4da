from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from backtests import research, services
from backtests.api import serializers
from backtests.charts import heatmap_png
from backtests.models import Backtest, GridRun, WalkForward
from botsinais.schema import ErrorSerializer
from signals.validation import worded
from strategies import grid
from strategies.base import ParameterError


class RequestViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A user's own requests (backtests, grids, walk-forwards), newest first; staff see
    everyone's. Another user's is a 404. Asking is a 202 with the id; cancelling an ended one
    is a 409."""

    filterset_fields = ["status", "strategy", "asset", "timeframe"]
    ordering_fields = ["created_at", "finished_at"]
    request_serializer_class: type
    detail_serializer_class: type

    @property
    def throttle_scope(self) -> str | None:
        # Asking for one is throttled; reading (polling its progress) and cancelling are not.
        return "backtest" if self.action == "create" else None

    def unread_fields(self) -> list[str]:
        """Large columns this action does not show: left out of the query."""
        return []

    def request_row(self, spec, user):
        raise NotImplementedError

    def cancel_row(self, row, user) -> bool:
        raise NotImplementedError

    def ended_detail(self, row) -> str:
        return _("it has already ended (%(status)s)") % {"status": row.status}

    def get_queryset(self):
        queryset = self.queryset.defer(*self.unread_fields())
        if self.request.user.is_staff:
            return queryset
        return queryset.filter(requested_by=self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return self.request_serializer_class
        if self.action == "retrieve":
            return self.detail_serializer_class
        return self.serializer_class

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = self.request_row(serializer.validated_data["spec"], request.user)
        status_url = reverse(f"{self.basename}-detail", args=[row.pk])
        return Response({"id": row.pk, "status_url": status_url}, status=status.HTTP_202_ACCEPTED)

    def destroy(self, request, *args, **kwargs):
        row = self.get_object()
        if not self.cancel_row(row, request.user):
            row.refresh_from_db(fields=["status"])
            return Response({"detail": self.ended_detail(row)},
                            status=status.HTTP_409_CONFLICT)
        return Response({"status": "cancelled"}, status=status.HTTP_202_ACCEPTED)


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
class BacktestViewSet(RequestViewSet):
    """A user's own backtests, newest first; staff see everyone's. Another user's is a 404."""

    queryset = Backtest.objects.select_related("requested_by").order_by("-created_at", "-id")
    serializer_class = serializers.BacktestSerializer
    request_serializer_class = serializers.BacktestRequestSerializer
    detail_serializer_class = serializers.BacktestDetailSerializer

    def unread_fields(self) -> list[str]:
        # The blobs are read only where shown: the curve in the detail, trades on their own.
        return {"retrieve": ["trades_blob"], "trades": ["equity_curve"]}.get(
            self.action, ["trades_blob", "equity_curve"])

    def request_row(self, spec, user):
        return services.request_backtest(spec, user=user)

    def cancel_row(self, row, user) -> bool:
        return services.cancel_backtest(row, by=user)

    def ended_detail(self, row) -> str:
        return _("the backtest has already ended (%(status)s)") % {"status": row.status}

    @extend_schema(responses=serializers.TradeSerializer(many=True), filters=False)
    @action(detail=True)
    def trades(self, request, pk=None):
        """The backtest's trades, oldest first, a page at a time (empty until completed)."""
        table = self.get_object().trade_table()
        page = self.paginate_queryset(table)
        return self.get_paginated_response(serializers.TradeSerializer(page, many=True).data)


class ResearchViewSet(RequestViewSet):
    """A user's own grids or walk-forwards; the large columns are left out of the list."""

    large_fields: tuple[str, ...] = ()

    def unread_fields(self) -> list[str]:
        return list(self.large_fields) if self.action == "list" else []


def _research_schema(what: str, request, detail):
    return extend_schema_view(
        create=extend_schema(request=request, responses={202: serializers.AcceptedSerializer},
                             description=f"Queue a {what}; poll its status and progress here."),
        retrieve=extend_schema(responses=detail),
        destroy=extend_schema(
            responses={202: serializers.CancelledSerializer, 409: ErrorSerializer},
            description=f"Cancel a queued or running {what}; 409 when it has already ended."),
    )


SERIES_PARAMETERS = [
    OpenApiParameter("asset", description="Only this asset's rows (one of the grid's)."),
    OpenApiParameter("timeframe", description="Only this timeframe's rows (one of the grid's)."),
]


def series_asked(request, run: GridRun) -> dict[str, str]:
    """?asset= and ?timeframe=, each one of the grid's (else a 400 naming it)."""
    known = {"asset": run.assets or [run.asset], "timeframe": run.timeframes or [run.timeframe]}
    asked = {}
    for field, names in known.items():
        value = request.query_params.get(field)
        if value is None:
            continue
        value = value.strip().upper() if field == "asset" else value.strip()
        if value not in names:
            raise ValidationError({field: [_("not one of this grid's: %(names)s")
                                           % {"names": ", ".join(names)}]})
        asked[field] = value
    return asked


def series_rows(rows: list[dict], asked: dict[str, str]) -> list[dict]:
    return [row for row in rows if all(row[field] == value for field, value in asked.items())]


@_research_schema("parameter grid", serializers.GridRequestSerializer,
                  serializers.GridRunDetailSerializer)
class GridRunViewSet(ResearchViewSet):
    """Parameter grids: every set of a grid backtested by the workers, ranked by a metric."""

    queryset = GridRun.objects.select_related("requested_by").order_by("-created_at", "-id")
    serializer_class = serializers.GridRunSerializer
    request_serializer_class = serializers.GridRequestSerializer
    detail_serializer_class = serializers.GridRunDetailSerializer
    large_fields = ("results", "ranking")  # parameters: the list shows them

    def filter_queryset(self, queryset):
        # The list's filters only: results and heatmap read ?asset= and ?timeframe= as a series.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def request_row(self, spec, user):
        return research.request_grid(spec, user=user)

    def cancel_row(self, row, user) -> bool:
        return research.cancel_grid(row, by=user)

    @extend_schema(responses=serializers.GridResultSerializer(many=True), filters=False,
                   parameters=[OpenApiParameter("order", enum=["grid", "ranking"],
                                                description="Grid order (default) or best "
                                                            "first (ranked rows only)."),
                               *SERIES_PARAMETERS])
    @action(detail=True)
    def results(self, request, pk=None):
        """Every row's figures (a series x a set; empty until completed), a page at a time."""
        run = self.get_object()
        order = request.query_params.get("order", "grid")
        if order not in ("grid", "ranking"):
            raise ValidationError({"order": [_("use grid or ranking")]})
        rows = run.results if order == "grid" else [run.results[i] for i in run.ranking]
        rows = series_rows(rows, series_asked(request, run))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(serializers.GridResultSerializer(page, many=True).data)

    @extend_schema(
        filters=False,
        responses={(200, "image/png"): OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter("x", description="A varied parameter (default: the first)."),
            OpenApiParameter("y", description="Another (default: the second, else the first)."),
            OpenApiParameter("metric", description="Default: the grid's metric."),
            *SERIES_PARAMETERS,
        ],
    )
    @action(detail=True)
    def heatmap(self, request, pk=None):
        """The metric over two varied parameters as a PNG; each cell the best of its rows
        (other parameters, and series unless narrowed to one) with at least the grid's minimum
        trades."""
        run = self.get_object()
        varied = run.varied
        x = request.query_params.get("x", varied[0] if varied else "")
        y = request.query_params.get("y", varied[1] if len(varied) > 1 else x)
        metric = request.query_params.get("metric", run.metric)
        asked = series_asked(request, run)
        rows = series_rows(run.results, asked)
        try:
            xs, ys, matrix = grid.heatmap(rows, x, y, metric, run.minimum_trades)
        except ParameterError as exc:
            field = "metric" if exc.parameter == "metric" else "x" if exc.parameter == x else "y"
            raise ValidationError({field: [worded(exc)]}) from None
        assets = asked.get("asset") or ",".join(run.assets or [run.asset])
        timeframes = asked.get("timeframe") or ",".join(run.timeframes or [run.timeframe])
        title = f"grid #{run.pk} {run.strategy} {assets} {timeframes}"
        return HttpResponse(heatmap_png(xs, ys, matrix, x, y, metric, title),
                            content_type="image/png")


@_research_schema("walk-forward test", serializers.WalkForwardRequestSerializer,
                  serializers.WalkForwardDetailSerializer)
class WalkForwardViewSet(ResearchViewSet):
    """Walk-forward tests: parameters chosen on each training window, traded on the next."""

    queryset = WalkForward.objects.select_related("requested_by").order_by("-created_at", "-id")
    serializer_class = serializers.WalkForwardSerializer
    request_serializer_class = serializers.WalkForwardRequestSerializer
    detail_serializer_class = serializers.WalkForwardDetailSerializer
    large_fields = ("windows", "trades_blob")  # parameters: the list shows them

    def request_row(self, spec, user):
        return research.request_walk_forward(spec, user=user)

    def cancel_row(self, row, user) -> bool:
        return research.cancel_walk_forward(row, by=user)

    @extend_schema(responses=serializers.TradeSerializer(many=True), filters=False)
    @action(detail=True)
    def trades(self, request, pk=None):
        """The stitched out-of-sample trades, oldest first, a page at a time."""
        table = self.get_object().trade_table()
        page = self.paginate_queryset(table)
        return self.get_paginated_response(serializers.TradeSerializer(page, many=True).data)
