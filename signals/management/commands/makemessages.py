"""Django's makemessages for the project's one catalogue, signals/locale.

Run from the project root, it writes strings from outside signals/ (the API's messages in
botsinais/ and backtests/, the plain packages' error templates) to signals/locale too, and it
extracts the plain packages' English texts: strategies/ and collectors/ have no Django, so their
errors take an English template and its values (signals.validation.worded translates them) and
a parameter's description is Param's fifth argument (signals.reasons.described); those
constructors are xgettext keywords here.
"""

from pathlib import Path

from django.core.management.commands import makemessages
from django.test.utils import override_settings

CATALOGUE = Path(__file__).resolve().parents[2] / "locale"
ERROR_TEMPLATE_KEYWORDS = [
    "--keyword=ParameterError:2",  # ParameterError(parameter, reason, **values)
    "--keyword=UnknownSymbol",
    "--keyword=UnsupportedTimeframe",
    "--keyword=Param:5",  # Param(type, default, minimum, maximum, description)
]


class Command(makemessages.Command):
    xgettext_options = makemessages.Command.xgettext_options + ERROR_TEMPLATE_KEYWORDS

    def handle(self, *args, **options):
        # Only here, not in settings: as LOCALE_PATHS at run time the catalogue would take
        # precedence over Django's own (the admin's "Log in", for one).
        with override_settings(LOCALE_PATHS=[CATALOGUE]):
            return super().handle(*args, **options)
