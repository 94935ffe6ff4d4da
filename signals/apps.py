from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SignalsConfig(AppConfig):
    name = "signals"
    verbose_name = _("Trading signals")

    def ready(self) -> None:
        # The health report's clock (how long without a worker heartbeat) starts with the process.
        from signals import health  # noqa: F401
