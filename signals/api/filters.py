import django_filters
from django import forms
from django.db.models import F
from rest_framework.filters import OrderingFilter

import collectors
from signals.models import Signal
from signals.timestamps import parse_timestamp


class TimestampFormField(forms.Field):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class TimestampFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 filter value, read by signals.timestamps like every client timestamp."""

    field_class = TimestampFormField


class SignalFilter(django_filters.FilterSet):
    created_after = TimestampFilter(field_name="created_at", lookup_expr="gte")
    created_before = TimestampFilter(field_name="created_at", lookup_expr="lte")
    asset = django_filters.CharFilter(lookup_expr="iexact")
    timeframe = django_filters.ChoiceFilter(choices=[(tf, tf) for tf in collectors.TIMEFRAMES])

    class Meta:
        model = Signal
        fields = ["status", "asset", "strategy", "timeframe", "direction", "result", "source"]


class MissingLastOrderingFilter(OrderingFilter):
    """?ordering= with missing values (an open signal's pnl) last either way: PostgreSQL
    would put them first when descending, SQLite last, so pages would differ by database."""

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        return queryset.order_by(*(
            F(field[1:]).desc(nulls_last=True) if field.startswith("-")
            else F(field).asc(nulls_last=True)
            for field in ordering
        ))
