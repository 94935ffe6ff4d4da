"""Django's makemessages, also extracting the plain packages' error templates.

strategies/ and collectors/ have no Django: their errors take an English template and its values
(signals.validation.worded translates them). Their constructors are xgettext keywords here, so
the templates reach the catalogue without a translation call in those packages.
"""

from django.core.management.commands import makemessages

ERROR_TEMPLATE_KEYWORDS = [
    "--keyword=ParameterError:2",  # ParameterError(parameter, reason, **values)
    "--keyword=UnknownSymbol",
    "--keyword=UnsupportedTimeframe",
]


class Command(makemessages.Command):
    xgettext_options = makemessages.Command.xgettext_options + ERROR_TEMPLATE_KEYWORDS
