import django_filters

from signals.models import Signal


class SignalFilter(django_filters.FilterSet):
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    asset = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Signal
        fields = ["status", "asset", "strategy", "timeframe", "direction", "result", "source"]
