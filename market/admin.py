from django.contrib import admin

from market.models import Candle


@admin.register(Candle)
class CandleAdmin(admin.ModelAdmin):
    """Read-only: candles come from sources and imports, never from hand edits."""

    list_display = [
        "asset",
        "timeframe",
        "open_time",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "source",
        "provider",
    ]
    list_filter = ["source", "provider", "timeframe", "asset"]
    search_fields = ["=asset"]
    ordering = ["-open_time"]
    # The table can hold millions of rows: skip the full COUNT(*) on every page.
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
