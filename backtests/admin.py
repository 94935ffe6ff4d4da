import base64
import json

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from backtests import research, services
from backtests.charts import equity_png
from backtests.models import Backtest, GridRun, WalkForward


@admin.register(Backtest)
class BacktestAdmin(admin.ModelAdmin):
    """Backtests are asked for through the API; here they are read, and cancelled."""

    list_display = ["id", "strategy", "asset", "timeframe", "mode", "status", "progress",
                    "trade_count", "requested_by", "created_at", "finished_at"]
    list_filter = ["status", "strategy", "mode", "timeframe", "source", "asset"]
    search_fields = ["asset", "strategy", "requested_by__username"]
    date_hierarchy = "created_at"
    list_select_related = ["requested_by"]
    exclude = ["trades_blob", "equity_curve", "metrics", "parameters", "gaps"]
    readonly_fields = ["metrics_table", "equity_chart", "parameters_readable", "gaps_readable"]
    actions = ["cancel_unfinished"]

    def get_readonly_fields(self, request, obj=None):
        shown = [field.name for field in Backtest._meta.fields if field.name not in self.exclude]
        return [*shown, *self.readonly_fields]

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        # The list never shows the blobs; the detail shows the curve, never the trades.
        return queryset.defer("trades_blob") if request.resolver_match.url_name.endswith(
            "_change") else queryset.defer("trades_blob", "equity_curve")

    @admin.display(description=_("metrics"))
    def metrics_table(self, backtest: Backtest) -> str:
        if not backtest.metrics:
            return "-"
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>",
                                ((name, "-" if value is None else value)
                                 for name, value in backtest.metrics.items()))
        return format_html("<table>{}</table>", rows)

    @admin.display(description=_("equity and drawdown"))
    def equity_chart(self, backtest: Backtest) -> str:
        if not backtest.equity_curve:
            return "-"
        title = f"{backtest.strategy} {backtest.asset} {backtest.timeframe} ({backtest.mode})"
        png = base64.b64encode(equity_png(backtest.equity_curve, title)).decode()
        return format_html('<img alt="{}" src="data:image/png;base64,{}">',
                           _("equity and drawdown"), png)

    @admin.display(description=_("parameters"))
    def parameters_readable(self, backtest: Backtest) -> str:
        return format_html("<pre>{}</pre>", json.dumps(backtest.parameters, indent=2))

    @admin.display(description=_("gaps"))
    def gaps_readable(self, backtest: Backtest) -> str:
        return format_html("<pre>{}</pre>", json.dumps(backtest.gaps, indent=2))

    @admin.action(description=_("Cancel selected queued or running backtests"))
    def cancel_unfinished(self, request, queryset):
        count = sum(services.cancel_backtest(backtest, by=request.user) for backtest in queryset)
        cancelled = ngettext("%(count)d backtest cancelled.", "%(count)d backtests cancelled.",
                             count) % {"count": count}
        self.message_user(request, cancelled, messages.SUCCESS)


@admin.register(GridRun)
class GridRunAdmin(admin.ModelAdmin):
    """Grids are asked for through the API or the command; here they are read, and cancelled."""

    list_display = ["id", "strategy", "asset", "timeframe", "status", "set_count", "sets_done",
                    "chunk_count", "requested_by", "created_at", "finished_at"]
    list_filter = ["status", "strategy", "timeframe"]
    search_fields = ["asset", "strategy", "requested_by__username"]
    list_select_related = ["requested_by"]
    exclude = ["results", "ranking"]
    actions = ["cancel_unfinished"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in GridRun._meta.fields if field.name not in self.exclude]

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("results")

    @admin.action(description=_("Cancel selected queued or running grids"))
    def cancel_unfinished(self, request, queryset):
        count = sum(research.cancel_grid(grid, by=request.user) for grid in queryset)
        cancelled = ngettext("%(count)d grid cancelled.", "%(count)d grids cancelled.",
                             count) % {"count": count}
        self.message_user(request, cancelled, messages.SUCCESS)


@admin.register(WalkForward)
class WalkForwardAdmin(admin.ModelAdmin):
    list_display = ["id", "strategy", "asset", "timeframe", "status", "progress", "train_bars",
                    "test_bars", "embargo_bars", "anchored", "trade_count", "created_at"]
    list_filter = ["status", "strategy", "timeframe", "anchored"]
    search_fields = ["asset", "strategy", "requested_by__username"]
    list_select_related = ["requested_by"]
    exclude = ["trades_blob", "windows"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in WalkForward._meta.fields
                if field.name not in self.exclude]

    def has_add_permission(self, request):
        return False
