"""One way to make HTTP calls to market data sources: retries, timeouts, typed failures."""

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from collectors.errors import MalformedResponse, UpstreamUnavailable

USER_AGENT = "botsinais"
DEFAULT_TIMEOUT = 10.0
RETRY_STATUSES = frozenset({500, 502, 503, 504})


class _ServerErrorRetry(Retry):
    # urllib3 would also sleep on 429 + Retry-After; rate limits are the source's call
    # (Binance bans IPs that keep knocking), so only 503's Retry-After is honoured here.
    RETRY_AFTER_STATUS_CODES = frozenset({503})


class TimeoutSession(requests.Session):
    """A Session that gives every request a timeout unless the call passes its own."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, **kwargs)


def make_session(
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = 3,
    backoff_factor: float = 0.5,
    retry_after_max: int = 30,
) -> requests.Session:
    """Session that retries GETs on connection errors, read timeouts and 5xx with backoff."""
    retry = _ServerErrorRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=backoff_factor,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        retry_after_max=retry_after_max,
        raise_on_status=False,  # hand back the last 5xx so get() can name the status
    )
    session = TimeoutSession(timeout)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def get(
    session: requests.Session, url: str, *, params: dict[str, Any], timeout: float | None = None
) -> requests.Response:
    """GET, mapping transport failures and 5xx to UpstreamUnavailable.

    Messages name the URL without its query string: queries can carry API keys.
    """
    try:
        response = session.get(url, params=params, timeout=timeout)
    except requests.RequestException as error:
        if _is_timeout(error):
            raise UpstreamUnavailable(f"GET {url} timed out (timeout {timeout}s)") from None
        raise UpstreamUnavailable(f"GET {url} failed: {type(error).__name__}") from None
    if response.status_code >= 500:
        raise UpstreamUnavailable(f"GET {url} answered HTTP {response.status_code}")
    return response


def _is_timeout(error: requests.RequestException) -> bool:
    # Once retries are used up, requests reports a read timeout as a ConnectionError
    # wrapping urllib3's MaxRetryError, so look at the reason too.
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.Timeout) or isinstance(reason, Urllib3Timeout)


def decode_json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        snippet = response.text[:200]
        raise MalformedResponse(
            f"{response.url.split('?')[0]} answered HTTP {response.status_code} "
            f"with a body that is not JSON: {snippet!r}"
        ) from None


def retry_after_seconds(response: requests.Response) -> float | None:
    """Retry-After in seconds when given as a number (the form Binance uses)."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None
