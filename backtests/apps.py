from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BacktestsConfig(AppConfig):
    name = "backtests"
    verbose_name = _("Backtests")
