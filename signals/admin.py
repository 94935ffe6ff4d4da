import json

from django.contrib import admin, messages
from django.utils.html import format_html

from signals import services
from signals.models import AnalysisRequest, Signal


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


@admin.register(Signal)
class SignalAdmin(admin.ModelAdmin):
    list_display = [
        "asset",
        "direction",
        "strategy",
        "timeframe",
        "confidence",
        "entry_price",
        "stop_loss",
        "take_profit",
        "status",
        "result",
        "pnl",
        "created_at",
    ]
    list_filter = ["status", "result", "strategy", "asset", "timeframe", "direction"]
    search_fields = ["asset", "strategy", "=correlation_id"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "candle_time",
        "created_at",
        "correlation_id",
        "indicators_readable",
        "parameters_readable",
    ]
    exclude = ["indicators", "parameters"]
    actions = ["cancel_active"]

    @admin.display(description="indicators")
    def indicators_readable(self, signal: Signal) -> str:
        return pretty_json(signal.indicators)

    @admin.display(description="parameters")
    def parameters_readable(self, signal: Signal) -> str:
        return pretty_json(signal.parameters)

    @admin.action(description="Cancel selected active signals")
    def cancel_active(self, request, queryset):
        count = services.cancel_active_signals(queryset)
        self.message_user(request, f"{count} active signal(s) cancelled.", messages.SUCCESS)


@admin.register(AnalysisRequest)
class AnalysisRequestAdmin(admin.ModelAdmin):
    list_display = [
        "correlation_id",
        "asset",
        "timeframe",
        "source",
        "status",
        "signals_generated",
        "requested_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "source", "asset", "timeframe"]
    search_fields = ["asset", "=correlation_id", "error"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AnalysisRequest._meta.fields]
