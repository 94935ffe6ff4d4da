import re
from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

import collectors
from signals.models import AnalysisRequest, Signal


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
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = AnalysisRequest
        fields = [
            "correlation_id",
            "asset",
            "timeframe",
            "source",
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
    asset = serializers.CharField(max_length=20)
    timeframe = serializers.ChoiceField(choices=list(collectors.TIMEFRAMES), default="5m")

    def validate_asset(self, value: str) -> str:
        value = value.strip().upper()
        if not re.fullmatch(collectors.ASSET_PATTERN, value):
            raise serializers.ValidationError(
                "Not a market symbol: use letters and digits, optionally '.' or '-', e.g. BTCUSDT."
            )
        return value


class AnalysisAcceptedSerializer(serializers.Serializer):
    correlation_id = serializers.UUIDField()
    status_url = serializers.URLField()


class PeriodQuerySerializer(serializers.Serializer):
    """The ?from=&to= window of a performance query; the last 30 days by default."""

    from_ = serializers.DateTimeField(required=False)
    to = serializers.DateTimeField(required=False)

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


class PerformanceSerializer(serializers.Serializer):
    total_signals = serializers.IntegerField()
    winning_signals = serializers.IntegerField()
    losing_signals = serializers.IntegerField()
    win_rate = serializers.FloatField()
    total_pnl = serializers.FloatField()
    period = PeriodSerializer()
