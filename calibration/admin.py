import base64
import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from calibration.charts import reliability_png
from calibration.models import ModelVersion

METRIC_NAMES = ("count", "brier", "log_loss", "auc", "ece")
COMPARED = (("model", "model"), ("base_rate", "base rate"), ("heuristic", "heuristic"))


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Versions are made by retraining (API, manage.py retrain, the weekly schedule); here
    they are read: why each was activated or rejected, and its held-out reliability."""

    list_display = ["id", "status", "created_at", "model_name", "calibration_method",
                    "held_out_brier", "held_out_ece", "requested_by"]
    list_filter = ["status", "model_name", "calibration_method"]
    date_hierarchy = "created_at"
    exclude = ["model_blob", "metrics", "features", "counts"]
    readonly_fields = ["metrics_table", "reliability_diagram", "counts_readable",
                       "features_readable", "selection_readable"]

    def get_readonly_fields(self, request, obj=None):
        shown = [f.name for f in ModelVersion._meta.fields if f.name not in self.exclude]
        return [*shown, *self.readonly_fields]

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("model_blob")

    @admin.display(description="held-out Brier")
    def held_out_brier(self, version: ModelVersion):
        return (version.metrics.get("model") or {}).get("brier")

    @admin.display(description="held-out metrics")
    def metrics_table(self, version: ModelVersion) -> str:
        if not version.metrics:
            return "-"
        header = format_html_join("", "<th>{}</th>", ((label,) for _, label in COMPARED))
        rows = format_html_join("", "<tr><th>{}</th>{}</tr>", (
            (metric, format_html_join("", "<td>{}</td>", (
                (_shown(version.metrics.get(key, {}).get(metric)),) for key, _ in COMPARED)))
            for metric in METRIC_NAMES))
        return format_html("<table><tr><th></th>{}</tr>{}</table>", header, rows)

    @admin.display(description="reliability diagram (held out)")
    def reliability_diagram(self, version: ModelVersion) -> str:
        if not version.reliability:
            return "-"
        tables = {label: version.metrics[key]["reliability"] for key, label in COMPARED
                  if key != "base_rate" and version.metrics.get(key)}
        png = base64.b64encode(reliability_png(tables, f"version {version.pk}")).decode()
        return format_html('<img alt="reliability diagram" src="data:image/png;base64,{}">',
                           png)

    @admin.display(description="signals")
    def counts_readable(self, version: ModelVersion) -> str:
        return format_html("<pre>{}</pre>", json.dumps(version.counts, indent=2))

    @admin.display(description="features")
    def features_readable(self, version: ModelVersion) -> str:
        return format_html("<pre>{}</pre>", "\n".join(version.features))

    @admin.display(description="model selection and bootstrap")
    def selection_readable(self, version: ModelVersion) -> str:
        shown = {key: version.metrics.get(key) for key in ("selection", "bootstrap")}
        return format_html("<pre>{}</pre>", json.dumps(shown, indent=2))


def _shown(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
