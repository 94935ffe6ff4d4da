"""GET /api/backtests/drift/: the live-versus-backtest drift report (backtests/drift.py)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

import collectors
from backtests import drift, services
from backtests.api.serializers import field_errors
from botsinais.schema import ErrorSerializer
from strategies.drift import CAUSES


class DriftSignalSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=["long", "short"])
    entry = serializers.FloatField()
    stop_loss = serializers.FloatField()
    take_profit = serializers.FloatField()
    status = serializers.ChoiceField(
        choices=["open", "closed", "expired", "cancelled"], help_text="open: not ended yet."
    )
    result = serializers.ChoiceField(choices=["win", "loss", "none"])
    close_price = serializers.FloatField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    pnl_percent = serializers.FloatField(allow_null=True, help_text="Net of fees.")


class ComparisonSerializer(serializers.Serializer):
    candle_time = serializers.DateTimeField(help_text="Open time of the candle.")
    cause = serializers.ChoiceField(
        choices=list(CAUSES), help_text="identical, or why the two differ (see the report)."
    )
    detail = serializers.CharField(help_text="What differs and why; empty when identical.")
    live = DriftSignalSerializer(allow_null=True, help_text="null: no live signal.")
    backtest = DriftSignalSerializer(allow_null=True, help_text="null: the backtest's none.")


class DriftReportSerializer(serializers.Serializer):
    strategy = serializers.CharField()
    parameters = serializers.DictField(help_text="The backtest's: the configuration now.")
    enabled = serializers.BooleanField(help_text="Whether the configuration runs it now.")
    asset = serializers.CharField()
    timeframe = serializers.CharField()
    source = serializers.CharField(help_text="The data source of the signals and candles.")
    fee_percent = serializers.FloatField(help_text="The backtest's, a side (the fee schedule).")
    tolerance = serializers.FloatField(
        help_text="Prices and pnl agree within this, relative (absolute below 1)."
    )
    candles = serializers.IntegerField(help_text="Candles backtested, warm-up included.")
    first_candle = serializers.DateTimeField()
    last_candle = serializers.DateTimeField()
    live_signals = serializers.IntegerField(help_text="Live signals on the period's candles.")
    analysed_candles = serializers.IntegerField(
        help_text="Candles of the period a live analysis ran this strategy on."
    )
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Comparisons per cause, every cause listed."
    )
    unexplained = serializers.IntegerField()
    comparisons = ComparisonSerializer(many=True, help_text="By candle.")

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword: these cannot be class attributes.
        fields["from"] = serializers.DateTimeField(help_text="First candle of the period.")
        fields["to"] = serializers.DateTimeField(help_text="The period's candles open before.")
        return fields


def query(name: str, description: str, *, required: bool = True) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY, required=required,
                            description=description)


class DriftView(APIView):
    """Whether the live signals are what the backtest says they should have been."""

    throttle_scope = "backtest"  # a backtest runs while the request waits

    @extend_schema(
        operation_id="backtests_drift",
        parameters=[
            query("strategy", "A registered strategy's name."),
            query("asset", "A symbol the market data mode serves."),
            query("timeframe", "One of the platform's timeframes."),
            query("from", "ISO 8601: the period's first candle."),
            query("to", "ISO 8601: candles opening before it; default now.", required=False),
        ],
        responses={200: DriftReportSerializer, 404: ErrorSerializer, 503: ErrorSerializer},
        description=(
            "Replays the backtest (every_signal, the strategy's configuration now, the fee "
            "schedule) on the stored candles and matches each live signal of the period with "
            "the backtest's on the same candle. Each candle where either fired is identical "
            "(direction, levels and outcome within `tolerance`) or differs with its cause: "
            "missed (no live analysis ran the strategy on it), config_change (live ran other "
            "parameters, or the strategy disabled), revised_data (the candles the live "
            "analysis read have changed since), different_ending (not settled live yet, "
            "cancelled, another fee, finer candles), unexplained. 404: no stored candles in "
            "the period; 503: the market data source failed."
        ),
    )
    def get(self, request):
        params = request.query_params
        try:
            result = drift.drift_report(
                strategy=params.get("strategy"), asset=params.get("asset"),
                timeframe=params.get("timeframe"), start=params.get("from"),
                end=params.get("to"))
        except services.BacktestInputError as exc:
            raise field_errors(exc) from None
        except services.NoCandlesError as exc:
            raise NotFound(str(exc)) from None
        except collectors.MarketDataError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(drift.drift_to_dict(result))
