"""GET /api/assets/: the assets the current market data mode serves, for autocomplete."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from signals import assets


class AssetSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    kind = serializers.ChoiceField(choices=["crypto", "stock"])
    name = serializers.CharField(help_text="Empty when unknown (live mode).")


class ServedAssetsSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["demo", "live"], help_text="MARKET_DATA_MODE")
    rule = serializers.CharField(help_text="Which symbols this mode accepts.")
    assets = AssetSerializer(many=True)


class AssetsView(APIView):
    @extend_schema(responses=ServedAssetsSerializer)
    def get(self, request):
        return Response(ServedAssetsSerializer(assets.served_assets()).data)


# Included from signals/api/urls.py as "assets/".
urlpatterns = [path("", AssetsView.as_view(), name="assets")]
