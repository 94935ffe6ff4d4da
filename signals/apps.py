from django.apps import AppConfig


class SignalsConfig(AppConfig):
    name = "signals"
    verbose_name = "Trading signals"

    def ready(self) -> None:
        # The health report's clock (how long without a worker heartbeat) starts with the process.
        from signals import health  # noqa: F401
