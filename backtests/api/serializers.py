from django.urls import reverse
from rest_framework import serializers

from backtests import services
from backtests.models import MODE_CHOICES, Backtest
from strategies.backtest import ONE_POSITION


class BacktestRequestSerializer(serializers.Serializer):
    """What POST /api/backtests/ takes; every rule is backtests.services.check_spec's."""

    strategy = serializers.CharField(help_text="A registered strategy's name.")
    asset = serializers.CharField(help_text="A symbol the market data mode serves.")
    timeframe = serializers.CharField()
    start = serializers.CharField(
        required=False, allow_null=True, help_text="ISO 8601; default: end minus 90 days."
    )
    end = serializers.CharField(required=False, allow_null=True, help_text="ISO 8601; default now.")
    parameters = serializers.JSONField(
        required=False, help_text="The strategy's parameters by name (its schema's bounds)."
    )
    mode = serializers.ChoiceField(
        choices=MODE_CHOICES, default=ONE_POSITION, required=False
    )
    fee_percent = serializers.FloatField(
        required=False, allow_null=True, help_text="A side; default: the fee schedule's."
    )

    def validate(self, attrs):
        try:
            attrs["spec"] = services.check_spec(**attrs)
        except services.BacktestInputError as exc:
            field, _, parameter = exc.field.partition(".")
            if parameter:
                raise serializers.ValidationError({field: {parameter: [exc.reason]}}) from None
            raise serializers.ValidationError({field: [exc.reason]}) from None
        return attrs


class BacktestAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status_url = serializers.CharField()


class BacktestSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    metrics = serializers.JSONField(
        read_only=True, help_text="strategies/stats.py figures and trades; null until completed."
    )

    class Meta:
        model = Backtest
        fields = [
            "id", "strategy", "asset", "timeframe", "parameters", "start", "end", "mode",
            "fee_percent", "source", "status", "progress", "error", "created_at", "started_at",
            "finished_at", "requested_by", "candles", "first_candle", "last_candle", "gaps",
            "trade_count", "metrics",
        ]
        read_only_fields = fields


class BacktestEquityPointSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    equity = serializers.FloatField(help_text="Starts at 1.0.")
    drawdown_percent = serializers.FloatField(help_text="Below the running peak, <= 0.")


class BacktestDetailSerializer(BacktestSerializer):
    equity_curve = BacktestEquityPointSerializer(many=True, read_only=True)
    trades_url = serializers.SerializerMethodField()

    class Meta(BacktestSerializer.Meta):
        fields = [*BacktestSerializer.Meta.fields, "equity_curve", "trades_url"]
        read_only_fields = fields

    def get_trades_url(self, backtest: Backtest) -> str:
        return reverse("backtest-trades", args=[backtest.pk])


class TradeSerializer(serializers.Serializer):
    signal_time = serializers.DateTimeField()
    direction = serializers.CharField()
    entry = serializers.FloatField()
    stop_loss = serializers.FloatField()
    take_profit = serializers.FloatField()
    exit_time = serializers.DateTimeField()
    exit_price = serializers.FloatField()
    result = serializers.CharField()
    pnl_percent = serializers.FloatField()
    r = serializers.FloatField(allow_null=True)
    bars_held = serializers.IntegerField()
    exit_reason = serializers.CharField(help_text="target, stop, gap, ambiguous or expiry")


class CancelledSerializer(serializers.Serializer):
    status = serializers.CharField()
