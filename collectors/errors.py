"""Typed market data errors: callers decide to retry, skip or alert by type, not by message.

The names are the agreed interface (they read as states, "RateLimited"), hence noqa: N818.
"""


class MarketDataError(Exception):
    """Any failure to get candles from a source.

    The message is an English template whose %(name)s fields the values fill; template and
    values stay apart so the Django side can word it in the reader's language.
    """

    def __init__(self, template: str = "", **values: object) -> None:
        super().__init__(template % values if values else template)
        self.template, self.values = template, values


class UnknownSymbol(MarketDataError):  # noqa: N818
    """The asset symbol is malformed or the source does not list it."""


class UnsupportedTimeframe(MarketDataError):  # noqa: N818
    """The timeframe is not one of TIMEFRAMES, or the source cannot serve it."""


class RateLimited(MarketDataError):  # noqa: N818
    """The source asked us to slow down; retry_after is in seconds when the source said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamUnavailable(MarketDataError):  # noqa: N818
    """Timeouts, connection failures and 5xx answers that outlived our retries."""


class MalformedResponse(MarketDataError):  # noqa: N818
    """The source answered, but not in the documented format."""


class MissingApiKey(MarketDataError):  # noqa: N818
    """The source needs an API key and none (or an invalid one) was configured."""
