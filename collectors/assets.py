"""Asset symbol syntax shared by every source, the API and the URL routes."""

import re

from collectors.errors import UnknownSymbol

# No anchors so it can be embedded in URL patterns; use re.fullmatch (or wrap in ^...$) to validate.
# Uppercase letters and digits, '.' or '-' inside (BRK.B, BF-B), 1..20 characters.
ASSET_PATTERN = r"[A-Z0-9](?:[A-Z0-9.\-]{0,18}[A-Z0-9])?"

_ASSET_RE = re.compile(ASSET_PATTERN)

# Quote assets that mark a Binance pair; longest first so FDUSD wins over USD-like suffixes.
CRYPTO_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "BRL", "TRY")


def validate_asset(asset: str) -> str:
    """The asset unchanged if well formed; no silent upper-casing: stored names stay canonical."""
    if not isinstance(asset, str) or not _ASSET_RE.fullmatch(asset):
        raise UnknownSymbol(
            "malformed asset symbol %(asset)r: expected 1-20 uppercase letters or digits, "
            "optionally with '.' or '-' inside (e.g. BTCUSDT, AAPL, BRK.B)",
            asset=asset,
        )
    return asset


def is_crypto_pair(asset: str) -> bool:
    """A pair like BTCUSDT: a known quote suffix after a base of at least two characters."""
    if "." in asset or "-" in asset:
        return False
    return any(asset.endswith(quote) and len(asset) - len(quote) >= 2 for quote in CRYPTO_QUOTES)
