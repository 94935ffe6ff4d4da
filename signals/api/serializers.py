from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

import collectors
import strategies
from calibration.api.serializers import ReliabilityBinSerializer
from market.models import DataSource, running_data_source
from signals import reasons, validation
from signals.models import AnalysisRequest, Direction, Signal, StrategyConfig, Watchlist
from signals.timestamps import parse_timestamp


@extend_schema_field(
    {"type": "string", "pattern": f"^{collectors.ASSET_PATTERN}$", "maxLength": 20,
     "example": "BTCUSDT"}
)  # fmt: skip
class AssetField(serializers.CharField):
    """A market symbol, upper-cased; served=True: one the market data mode serves (in demo
    mode, a catalogue asset). The rules and messages are signals.validation's."""

    def __init__(self, *, served: bool = False, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)
        self.served = served

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        return validation.served_asset(value) if self.served else validation.asset(value)


class TimeframeField(serializers.ChoiceField):
    """One of collectors.TIMEFRAMES (an enum in the schema), with validation's message."""

    def __init__(self, **kwargs):
        super().__init__(choices=list(collectors.TIMEFRAMES), **kwargs)

    def to_internal_value(self, data):
        return validation.timeframe(data)


class StrategyNameField(serializers.ChoiceField):
    """A registered strategy's name (an enum in the schema), with validation's message."""

    def __init__(self, **kwargs):
        super().__init__(choices=list(strategies.available()), **kwargs)

    def to_internal_value(self, data):
        return validation.strategy_name(data)


class SignalSerializer(serializers.ModelSerializer):
    strength = serializers.FloatField(
        source="confidence", read_only=True,
        help_text="0 to 1: how strongly the strategy's conditions held when it fired. A "
                  "heuristic score, not a probability: see `probability`.",
    )
    confidence = serializers.FloatField(
        read_only=True,
        help_text="Deprecated: the same value as `strength`, kept for existing clients. It is "
                  "not a probability.",
    )
    probability = serializers.FloatField(
        read_only=True, allow_null=True,
        help_text="Calibrated probability (0 to 1) that the signal reaches its target before "
                  "its stop or expiry, from `model_version`; null when no model version was "
                  "active when it fired (docs/calibration.md).",
    )
    model_version = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True,
        help_text="The model version (GET /api/models/{id}/) that gave `probability`.",
    )

    class Meta:
        model = Signal
        fields = [
            "id",
            "asset",
            "direction",
            "strength",
            "probability",
            "model_version",
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
            "source",
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
            "attempts",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class RequestAnalysisSerializer(serializers.Serializer):
    asset = AssetField(served=True)
    timeframe = TimeframeField(default="5m")


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
            raise serializers.ValidationError({"from": _("must not be after 'to'.")})
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

    strategy = StrategyNameField(required=False)
    asset = AssetField(required=False)  # past signals may be of assets no longer served
    timeframe = TimeframeField(required=False)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)
    source = serializers.ChoiceField(
        choices=DataSource.choices,
        required=False,
        help_text="Data source; default: the one the platform runs on (MARKET_DATA_MODE).",
    )

    def validate(self, attrs):
        filters = {key: attrs[key] for key in FILTERS if key in attrs}
        # Demo and live records never mix in one figure: one source at a time.
        filters["source"] = attrs.get("source") or running_data_source()
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
    """The figures of a set of signals; docs/performance.md defines each one. A figure that is
    undefined (no signal to compute it from) is null."""

    total_signals = serializers.IntegerField()
    open_signals = serializers.IntegerField()
    cancelled_signals = serializers.IntegerField()
    ended_signals = serializers.IntegerField(help_text="closed or expired, with a pnl")
    winning_signals = serializers.IntegerField()
    losing_signals = serializers.IntegerField()
    expired_signals = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True, help_text="wins / (wins + losses)")
    expectancy_r = serializers.FloatField(allow_null=True, help_text="mean R, expired included")
    expectancy_r_excluding_expired = serializers.FloatField(allow_null=True)
    median_r = serializers.FloatField(allow_null=True)
    expectancy_percent = serializers.FloatField(
        allow_null=True, help_text="mean pnl percent, expired included"
    )
    expectancy_percent_excluding_expired = serializers.FloatField(allow_null=True)
    profit_factor = serializers.FloatField(allow_null=True, help_text="null without losses")
    max_consecutive_wins = serializers.IntegerField()
    max_consecutive_losses = serializers.IntegerField()
    average_holding_seconds = serializers.FloatField(allow_null=True)
    stake_percent = serializers.FloatField(help_text="capital each signal stakes")
    compounded_return_percent = serializers.FloatField(allow_null=True)
    max_drawdown_percent = serializers.FloatField(
        allow_null=True, help_text="percent of the capital's peak, 0..100"
    )
    sharpe_annualised = serializers.FloatField(allow_null=True, help_text="daily returns, 365")
    sortino_annualised = serializers.FloatField(allow_null=True)
    exposure_percent = serializers.FloatField(allow_null=True)
    return_days = serializers.IntegerField(help_text="daily returns behind Sharpe and Sortino")
    best_signal = SignalSummarySerializer(allow_null=True)
    worst_signal = SignalSummarySerializer(allow_null=True)


class EquityPointSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="UTC day; the capital at its end")
    equity = serializers.FloatField(help_text="capital, starting at 1")
    drawdown_percent = serializers.FloatField()


class LiveCalibrationSerializer(serializers.Serializer):
    """The ended signals that carried a model's probability, by probability bin."""

    ended_signals = serializers.IntegerField(help_text="ended signals with a probability")
    brier = serializers.FloatField(allow_null=True, help_text="mean squared error of the "
                                                              "probabilities; lower is better")
    ece = serializers.FloatField(allow_null=True, help_text="expected calibration error")
    reliability = ReliabilityBinSerializer(many=True)


class PerformanceSerializer(PerformanceMetricsSerializer):
    by_strategy = serializers.DictField(child=PerformanceMetricsSerializer())
    by_asset = serializers.DictField(child=PerformanceMetricsSerializer())
    by_timeframe = serializers.DictField(child=PerformanceMetricsSerializer())
    equity_curve = EquityPointSerializer(many=True)
    calibration = LiveCalibrationSerializer(
        help_text="Live reliability of the model probabilities (docs/calibration.md)")
    period = PeriodSerializer()
    source = serializers.ChoiceField(
        choices=DataSource.choices, help_text="The data source of the signals counted."
    )


class StrategySerializer(serializers.Serializer):
    """A registered strategy: what it does and the parameters it takes, with their defaults."""

    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.DictField(
        child=serializers.DictField(), help_text="name -> type, default, minimum, maximum"
    )

    def to_representation(self, strategy_class):
        return {
            "name": strategy_class.name,
            "description": reasons.summary(strategy_class),
            "parameters": reasons.translated_schema(strategy_class),
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


class StrategyConfigSerializer(serializers.ModelSerializer):
    strategy = StrategyNameField()
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
        # A config may be scoped to any well-formed symbol, served in this mode or not.
        return validation.asset(value) if value else ""

    def validate_timeframe(self, value: str) -> str:
        return validation.timeframe(value) if value else ""

    def validate(self, attrs):
        strategy = attrs.get("strategy", getattr(self.instance, "strategy", None))
        parameters = attrs.get("parameters", getattr(self.instance, "parameters", {}))
        try:
            validation.strategy_parameters(strategy, parameters)
        except validation.ParameterValidationError as exc:
            raise serializers.ValidationError(
                {"parameters": {exc.parameter: [exc.reason]}}
            ) from None
        return attrs


class WatchlistSerializer(serializers.ModelSerializer):
    asset = AssetField(served=True)
    timeframe = TimeframeField()
    strategies = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Strategy names to run; empty means all enabled.",
    )

    class Meta:
        model = Watchlist
        fields = ["id", "asset", "timeframe", "enabled", "strategies", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate_strategies(self, value: list[str]) -> list[str]:
        return validation.strategy_names(value)
