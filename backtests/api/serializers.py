from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backtests import research, services
from backtests.models import MODE_CHOICES, Backtest, GridRun, WalkForward
from strategies import grid as grids
from strategies.backtest import ONE_POSITION


def field_errors(error: services.BacktestInputError) -> serializers.ValidationError:
    """A BacktestInputError as the API's 400: {field: [reason]} or {field: {name: [reason]}}."""
    field, _, parameter = error.field.partition(".")
    if parameter:
        return serializers.ValidationError({field: {parameter: [error.reason]}})
    return serializers.ValidationError({field: [error.reason]})


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
            raise field_errors(exc) from None
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


# ---- grids and walk-forward tests (backtests/research.py) ----


@extend_schema_field({"oneOf": [{"type": "array", "items": {"type": "string"}},
                                {"type": "string"}]})
class NamesField(serializers.Field):
    """A list of names or 'A,B': passed as given, research.series_names reads it."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class GridRequestSerializer(BacktestRequestSerializer):
    """What POST /api/backtests/grids/ takes: a backtest request (parameters are the base)
    and the grid; every rule is backtests.research.check_grid's. A grid runs on every asset
    in every timeframe: asset or assets, timeframe or timeframes."""

    asset = serializers.CharField(required=False, help_text="One asset (or assets).")
    timeframe = serializers.CharField(required=False, help_text="One timeframe (or timeframes).")
    assets = NamesField(required=False,
                        help_text="Several assets: a list or 'BTCUSDT,ETHUSDT'; each one "
                                  "checked as a single backtest's asset.")
    timeframes = NamesField(required=False, help_text="Several timeframes: a list or '1h,4h'.")
    grid = serializers.JSONField(
        help_text="Values per parameter: a list, 'a,b,c' or 'start:stop:step' (stop included), "
                  "within the strategy's schema bounds; at most BACKTEST_GRID_MAX_SETS sets.")
    metric = serializers.CharField(default=grids.DEFAULT_METRIC, required=False,
                                   help_text="The statistic the sets are ranked by.")
    minimum_trades = serializers.IntegerField(
        default=grids.DEFAULT_MINIMUM_TRADES, required=False, min_value=0,
        help_text="Sets with fewer trades are not ranked.")

    def validate(self, attrs):
        try:
            attrs["spec"] = research.check_grid(**attrs)
        except services.BacktestInputError as exc:
            raise field_errors(exc) from None
        return attrs


class WalkForwardRequestSerializer(GridRequestSerializer):
    train_bars = serializers.IntegerField(min_value=2, help_text="Bars in a training window.")
    test_bars = serializers.IntegerField(min_value=1, help_text="Bars in a test window.")
    embargo_bars = serializers.IntegerField(
        required=False, allow_null=True, min_value=0,
        help_text="Bars between a training and its test window; default and least: the "
                  "largest expiry_bars of the grid.")
    anchored = serializers.BooleanField(
        default=False, required=False,
        help_text="Every training window starts at the first bar (else they roll).")

    def validate(self, attrs):
        try:
            attrs["spec"] = research.check_walk_forward(**attrs)
        except services.BacktestInputError as exc:
            raise field_errors(exc) from None
        return attrs


class AcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status_url = serializers.CharField()


RESEARCH_FIELDS = [
    "id", "strategy", "asset", "timeframe", "parameters", "grid", "start", "end", "mode",
    "fee_percent", "metric", "minimum_trades", "source", "candles", "status", "progress",
    "error", "created_at", "started_at", "finished_at", "requested_by",
]


class GridSeriesSerializer(serializers.Serializer):
    asset = serializers.CharField()
    timeframe = serializers.CharField()
    fee_percent = serializers.FloatField(help_text="A side: the one asked for, else the fee "
                                                   "schedule's of the asset.")
    candles = serializers.IntegerField(help_text="Stored candles in the period (0 until "
                                                 "started).")


class GridRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True,
                                                allow_null=True)
    asset = serializers.CharField(read_only=True, help_text="The first of assets.")
    timeframe = serializers.CharField(read_only=True, help_text="The first of timeframes.")
    assets = serializers.ListField(child=serializers.CharField(), read_only=True)
    timeframes = serializers.ListField(child=serializers.CharField(), read_only=True)
    series = GridSeriesSerializer(many=True, read_only=True,
                                  help_text="Each asset in each timeframe.")
    progress = serializers.FloatField(read_only=True, help_text="0 to 1: backtests done.")
    backtest_count = serializers.IntegerField(read_only=True, help_text="Sets x series.")
    varied = serializers.ListField(child=serializers.CharField(), read_only=True,
                                   help_text="The grid's parameters, in the schema's order.")

    class Meta:
        model = GridRun
        fields = [*RESEARCH_FIELDS, "assets", "timeframes", "series", "varied", "set_count",
                  "backtest_count", "sets_done", "refused", "chunk_count"]
        read_only_fields = fields


class GridResultSerializer(serializers.Serializer):
    set = serializers.IntegerField(help_text="Its parameter set's place in the grid (the same "
                                             "in every series).")
    asset = serializers.CharField()
    timeframe = serializers.CharField()
    parameters = serializers.JSONField(help_text="The varied parameters' values.")
    signals = serializers.IntegerField()
    statistics = serializers.JSONField(help_text="strategies/stats.py figures and trades.")


class GridRunDetailSerializer(GridRunSerializer):
    ranking = serializers.SerializerMethodField(
        help_text="The best rows (a series x a set) first, at most 20, by the metric, with "
                  "enough trades.")
    results_url = serializers.SerializerMethodField()
    heatmap_url = serializers.SerializerMethodField()

    class Meta(GridRunSerializer.Meta):
        fields = [*GridRunSerializer.Meta.fields, "ranking", "results_url", "heatmap_url"]
        read_only_fields = fields

    @extend_schema_field(GridResultSerializer(many=True))
    def get_ranking(self, run: GridRun) -> list:
        return [run.results[place] for place in run.ranking[:RANKING_SHOWN]]

    def get_results_url(self, run: GridRun) -> str:
        return reverse("grid-results", args=[run.pk])

    def get_heatmap_url(self, run: GridRun) -> str:
        return reverse("grid-heatmap", args=[run.pk])


RANKING_SHOWN = 20


class WalkForwardSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True,
                                                allow_null=True)

    class Meta:
        model = WalkForward
        fields = [*RESEARCH_FIELDS, "train_bars", "test_bars", "embargo_bars", "anchored",
                  "trade_count"]
        read_only_fields = fields


class WalkForwardDetailSerializer(WalkForwardSerializer):
    windows = serializers.JSONField(
        read_only=True, help_text="Per window: bar positions and times, the chosen parameters "
                                  "(null: none had enough trades), in- and out-of-sample figures.")
    in_sample = serializers.JSONField(
        read_only=True, help_text="Per-trade figures of the chosen sets on their training windows.")
    out_of_sample = serializers.JSONField(
        read_only=True, help_text="The stitched test windows' trades: every figure.")
    trades_url = serializers.SerializerMethodField()

    class Meta(WalkForwardSerializer.Meta):
        fields = [*WalkForwardSerializer.Meta.fields, "windows", "in_sample", "out_of_sample",
                  "trades_url"]
        read_only_fields = fields

    def get_trades_url(self, row: WalkForward) -> str:
        return reverse("walk-forward-trades", args=[row.pk])
