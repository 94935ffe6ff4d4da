import re
from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

import collectors
import strategies
from signals.models import (
    AnalysisRequest,
    Direction,
    Signal,
    StrategyConfig,
    Watchlist,
    check_strategy_names,
)
from signals.timestamps import parse_timestamp


def check_asset(value: str) -> str:
    """A market symbol, upper-cased; a ValidationError saying what one looks like otherwise."""
    value = value.strip().upper()
    if not re.fullmatch(collectors.ASSET_PATTERN, value):
        raise serializers.ValidationError(
            "Not a market symbol: use letters and digits, optionally '.' or '-', e.g. BTCUSDT."
        )
    return value


@extend_schema_field(
    {"type": "string", "pattern": f"^{collectors.ASSET_PATTERN}$", "maxLength": 20,
     "example": "BTCUSDT"}
)  # fmt: skip
class AssetField(serializers.CharField):
    """A market symbol; lower case and surrounding spaces are accepted and upper-cased."""

    def __init__(self, **kwargs):
        super().__init__(max_length=20, **kwargs)

    def to_internal_value(self, data) -> str:
        return check_asset(super().to_internal_value(data))


class SignalSerializer(serializers.ModelSerializer):
    class Meta:
        model = Signal
        fields = [
            "id",
            "asset",
            "direction",
            "confidence",
            "entry_price",
            "stop_loss",
            "take_profit",
            "strategy",
            "timeframe",
            "candle_time",
            "created_at",
            "status",
            "result",
            "pnl",
            "r_multiple",
            "closed_at",
            "close_price",
            "indicators",
            "parameters",
            "correlation_id",
        ]
        read_only_fields = fields


class AnalysisRequestSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="null when scheduled"
    )

    class Meta:
        model = AnalysisRequest
        fields = [
            "correlation_id",
            "asset",
            "timeframe",
            "source",
            "strategies",
            "status",
            "signals_generated",
            "error",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class RequestAnalysisSerializer(serializers.Serializer):
    asset = AssetField()
    timeframe = serializers.ChoiceField(choices=list(collectors.TIMEFRAMES), default="5m")


class AnalysisAcceptedSerializer(serializers.Serializer):
    correlation_id = serializers.UUIDField()
    status_url = serializers.URLField()


class TimestampField(serializers.DateTimeField):
    """A timestamp from a client, read by signals.timestamps like every other one."""

    def to_internal_value(self, value):
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class PeriodQuerySerializer(serializers.Serializer):
    """The ?from=&to= window of a performance query; the last 30 days by default."""

    from_ = TimestampField(required=False, help_text="ISO 8601; default: 30 days before 'to'")
    to = TimestampField(required=False, help_text="ISO 8601; default: now")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # "from" is a Python keyword
        return fields

    def validate(self, attrs):
        end = attrs.get("to") or timezone.now()
        start = attrs.get("from") or end - timedelta(days=30)
        if start > end:
            raise serializers.ValidationError({"from": "must not be after 'to'."})
        return {"from": start, "to": end}


class PeriodSerializer(serializers.Serializer):
    from_ = serializers.DateTimeField()
    to = serializers.DateTimeField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class PerformanceQuerySerializer(PeriodQuerySerializer):
    """The period plus optional filters of a performance query."""

    strategy = serializers.ChoiceField(choices=list(strategies.available()), required=False)
    asset = AssetField(required=False)
    timeframe = serializers.ChoiceField(choices=list(collectors.TIMEFRAMES), required=False)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)

    def validate(self, attrs):
        filters = {key: attrs[key] for key in FILTERS if key in attrs}
        return {**super().validate(attrs), "filters": filters}


FILTERS = ("strategy", "asset", "timeframe", "direction")


class SignalSummarySerializer(serializers.Serializer):
    strategy = serializers.CharField()
    asset = serializers.CharField()
    timeframe = serializers.CharField()
    result = serializers.CharField()
    pnl = serializers.FloatField()
    closed_at = serializers.DateTimeField(allow_null=True)


class PerformanceMetricsSerializer(serializers.Serializer):
    """The figures of a set of signals; docs/performance.md defines each one."""

    total_signals = serializers.IntegerField()
    winning_signals = serializers.IntegerField()
    losing_signals = serializers.IntegerField()
    expired_signals = serializers.IntegerField()
    open_signals = serializers.IntegerField()
    cancelled_signals = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True, help_text="wins / (wins + losses)")
    total_pnl = serializers.FloatField(help_text="percent, sum over ended signals")
    average_pnl = serializers.FloatField(allow_null=True)
    profit_factor = serializers.FloatField(allow_null=True, help_text="null without losses")
    expectancy = serializers.FloatField(allow_null=True)
    average_r = serializers.FloatField(allow_null=True)
    best_signal = SignalSummarySerializer(allow_null=True)
    worst_signal = SignalSummarySerializer(allow_null=True)
    max_drawdown = serializers.FloatField(help_text="percentage points of cumulative pnl")
    sharpe = serializers.FloatField(allow_null=True)
    sortino = serializers.FloatField(allow_null=True)
    max_consecutive_wins = serializers.IntegerField()
    max_consecutive_losses = serializers.IntegerField()
    average_holding_time = serializers.FloatField(allow_null=True, help_text="seconds")


class EquityPointSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    cumulative_pnl = serializers.FloatField()


class PerformanceSerializer(PerformanceMetricsSerializer):
    by_strategy = serializers.DictField(child=PerformanceMetricsSerializer())
    by_asset = serializers.DictField(child=PerformanceMetricsSerializer())
    by_timeframe = serializers.DictField(child=PerformanceMetricsSerializer())
    equity_curve = EquityPointSerializer(many=True)
    period = PeriodSerializer()


class StrategySerializer(serializers.Serializer):
    """A registered strategy: what it does and the parameters it takes, with their defaults."""

    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.DictField(
        child=serializers.DictField(), help_text="name -> type, default, minimum, maximum"
    )

    def to_representation(self, strategy_class):
        doc = (strategy_class.__doc__ or "").strip()
        return {
            "name": strategy_class.name,
            "description": doc.splitlines()[0] if doc else "",
            "parameters": strategy_class.schema(),
        }


class ScopeField(serializers.CharField):
    """An optional asset or timeframe scope: null (or "") means any."""

    def __init__(self, **kwargs):
        super().__init__(allow_blank=True, allow_null=True, required=False, default="", **kwargs)

    def validate_empty_values(self, data):
        if data is None:
            return True, ""
        return super().validate_empty_values(data)

    def to_representation(self, value):
        return value or None




def check_timeframe(value: str) -> str:
    if value not in collectors.TIMEFRAMES:
        raise serializers.ValidationError(f"Use one of {', '.join(collectors.TIMEFRAMES)}.")
    return value


class StrategyConfigSerializer(serializers.ModelSerializer):
    strategy = serializers.ChoiceField(choices=list(strategies.available()))
    asset = ScopeField(max_length=20)
    timeframe = ScopeField(max_length=4)
    parameters = serializers.JSONField(required=False)
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = StrategyConfig
        fields = [
            "id",
            "strategy",
            "asset",
            "timeframe",
            "enabled",
            "parameters",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = ["updated_at", "updated_by"]

    def validate_asset(self, value: str) -> str:
        return check_asset(value) if value else ""

    def validate_timeframe(self, value: str) -> str:
        return check_timeframe(value) if value else ""

    def validate_parameters(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be an object of parameter: value.")
        return value

    def validate(self, attrs):
        strategy = attrs.get("strategy", getattr(self.instance, "strategy", None))
        parameters = attrs.get("parameters", getattr(self.instance, "parameters", {}))
        try:
            strategies.get(strategy)(**parameters)
        except strategies.ParameterError as exc:
            raise serializers.ValidationError(
                {"parameters": {exc.parameter: [exc.reason]}}
            ) from None
        return attrs


class WatchlistSerializer(serializers.ModelSerializer):
    timeframe = serializers.ChoiceField(choices=list(collectors.TIMEFRAMES))
    strategies = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Strategy names to run; empty means all enabled.",
    )

    asset = AssetField()

    class Meta:
        model = Watchlist
        fields = ["id", "asset", "timeframe", "enabled", "strategies", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate_strategies(self, value: list[str]) -> list[str]:
        try:
            return check_strategy_names(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
