"""GET /api/candles/?asset=BTCUSDT&timeframe=5m&limit=200: recent candles for the price chart."""

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

import collectors
from botsinais.schema import ErrorSerializer
from market import store
from signals.api.serializers import AssetField, TimeframeField
from signals.validation import worded

COLUMNS = ["open", "high", "low", "close", "volume"]


class CandlesQuerySerializer(serializers.Serializer):
    asset = AssetField(served=True)
    timeframe = TimeframeField()
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=200)


class CandleSerializer(serializers.Serializer):
    time = serializers.DateTimeField(help_text="Open time, UTC.")
    open = serializers.FloatField()
    high = serializers.FloatField()
    low = serializers.FloatField()
    close = serializers.FloatField()
    volume = serializers.FloatField()


class CandlesView(APIView):
    @extend_schema(
        parameters=[CandlesQuerySerializer],
        responses={200: CandleSerializer(many=True), 502: ErrorSerializer},
    )
    def get(self, request):
        query = CandlesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        asset, timeframe, limit = (query.validated_data[k] for k in ("asset", "timeframe", "limit"))
        try:
            frame = store.load_candles(asset, timeframe).tail(limit)
        except collectors.UnknownSymbol as exc:
            return Response({"asset": [worded(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except collectors.UnsupportedTimeframe as exc:
            return Response({"timeframe": [worded(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except collectors.MarketDataError as exc:
            unavailable = _("market data unavailable: %(reason)s") % {"reason": worded(exc)}
            return Response({"detail": unavailable}, status=status.HTTP_502_BAD_GATEWAY)
        rows = frame[COLUMNS].to_dict("records")
        times = (moment.isoformat() for moment in frame.index)
        return Response([{"time": time, **row} for time, row in zip(times, rows, strict=True)])


# Included from signals/api/urls.py as "candles/".
urlpatterns = [path("", CandlesView.as_view(), name="candles")]
