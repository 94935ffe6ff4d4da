import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

import collectors
import strategies
from signals import services
from signals.models import AnalysisRequest, Signal, StrategyConfig, Watchlist


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
        "source",
        "created_at",
    ]
    list_filter = ["source", "status", "result", "strategy", "asset", "timeframe", "direction"]
    search_fields = ["asset", "strategy", "=correlation_id"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "source",
        "candle_time",
        "created_at",
        "correlation_id",
        "indicators_readable",
        "parameters_readable",
    ]
    exclude = ["indicators", "parameters"]
    actions = ["cancel_active"]

    @admin.display(description=_("indicators"))
    def indicators_readable(self, signal: Signal) -> str:
        return pretty_json(signal.indicators)

    @admin.display(description=_("parameters"))
    def parameters_readable(self, signal: Signal) -> str:
        return pretty_json(signal.parameters)

    @admin.action(description=_("Cancel selected active signals"))
    def cancel_active(self, request, queryset):
        count = services.cancel_active_signals(queryset)
        cancelled = ngettext("%(count)d active signal cancelled.",
                             "%(count)d active signals cancelled.", count) % {"count": count}
        self.message_user(request, cancelled, messages.SUCCESS)


@admin.register(AnalysisRequest)
class AnalysisRequestAdmin(admin.ModelAdmin):
    list_display = [
        "correlation_id",
        "asset",
        "timeframe",
        "source",
        "status",
        "attempts",
        "signals_generated",
        "requested_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "source", "asset", "timeframe"]
    search_fields = ["asset", "=correlation_id", "error"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AnalysisRequest._meta.fields]


def timeframe_choices(blank_label: str | None) -> list[tuple[str, str]]:
    choices = [(name, name) for name in collectors.TIMEFRAMES]
    return [("", blank_label), *choices] if blank_label else choices


class StrategyConfigForm(forms.ModelForm):
    strategy = forms.ChoiceField(choices=lambda: [(n, n) for n in strategies.available()])
    timeframe = forms.ChoiceField(choices=timeframe_choices(_("any")), required=False)

    class Meta:
        model = StrategyConfig
        fields = ["strategy", "asset", "timeframe", "enabled", "parameters"]


@admin.register(StrategyConfig)
class StrategyConfigAdmin(admin.ModelAdmin):
    """Edits take effect on the next analysis; StrategyConfig.clean() validates parameters."""

    form = StrategyConfigForm
    list_display = ["strategy", "asset", "timeframe", "enabled", "updated_at", "updated_by"]
    list_filter = ["strategy", "enabled", "timeframe"]
    search_fields = ["strategy", "asset"]
    readonly_fields = ["schema_readable", "updated_at", "updated_by"]

    @admin.display(description=_("parameters this strategy takes"))
    def schema_readable(self, config: StrategyConfig) -> str:
        try:
            return pretty_json(strategies.get(config.strategy).schema())
        except strategies.UnknownStrategy:
            return "-"

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


class WatchlistForm(forms.ModelForm):
    timeframe = forms.ChoiceField(choices=timeframe_choices(None))

    class Meta:
        model = Watchlist
        fields = ["asset", "timeframe", "enabled", "strategies"]
        help_texts = {
            "strategies": _('A JSON list of strategy names, e.g. ["breakout"]; [] means all.')
        }


@admin.register(Watchlist)
class WatchlistAdmin(admin.ModelAdmin):
    form = WatchlistForm
    list_display = ["asset", "timeframe", "enabled", "strategies", "updated_at"]
    list_editable = ["enabled"]
    list_filter = ["enabled", "timeframe"]
    search_fields = ["asset"]
