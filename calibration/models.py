"""Model versions: a calibrated model of the probability that a signal reaches its target,
what it was trained on, how it did on the held-out slice, and whether it serves.

The fitted model itself is a pickle (model_blob) written only by calibration/services.py
from strategies.calibration objects; it is never read from anywhere else.
"""

from __future__ import annotations

import pickle

from django.conf import settings
from django.db import models
from django.db.models import Q


class ModelStatus(models.TextChoices):
    ACTIVE = "active"  # scores new signals; at most one at a time
    REJECTED = "rejected"  # did not earn activation; reason says why
    RETIRED = "retired"  # was active, replaced by a newer version


class ModelVersion(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=8, choices=ModelStatus.choices, db_index=True)
    reason = models.TextField(help_text="Why it was activated or rejected, with the numbers.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="null when the weekly schedule or the command retrained.",
    )
    model_name = models.CharField(max_length=80, blank=True, help_text="The chosen classifier.")
    calibration_method = models.CharField(max_length=10, blank=True,
                                          help_text="isotonic or sigmoid")
    training_start = models.DateTimeField(null=True, blank=True,
                                          help_text="Oldest signal fitted.")
    training_end = models.DateTimeField(
        null=True, blank=True, help_text="Latest outcome fitted or calibrated on.")
    held_out_start = models.DateTimeField(null=True, blank=True,
                                          help_text="Oldest signal of the held-out slice.")
    held_out_end = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True,
                              help_text="Signals in all, fitted, calibrating, held out, purged.")
    features = models.JSONField(default=list, blank=True)
    data_hash = models.CharField(max_length=64, db_index=True)
    metrics = models.JSONField(
        default=dict, blank=True,
        help_text="Held-out metrics of the model, the base rate and the heuristic; model "
                  "selection; bootstrap of the Brier margins.")
    model_blob = models.BinaryField(null=True, blank=True, editable=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"),
                                    name="one_active_model_version"),
        ]

    def __str__(self) -> str:
        return f"model v{self.pk} ({self.status})"

    @property
    def reliability(self) -> list[dict]:
        """The model's held-out reliability table (10 bins), empty when it has none."""
        return (self.metrics.get("model") or {}).get("reliability", [])

    @property
    def held_out_metrics(self) -> dict | None:
        """The metrics, or None when there was too little data to fit a model."""
        return self.metrics or None

    @property
    def held_out_ece(self) -> float | None:
        return (self.metrics.get("model") or {}).get("ece")

    def load_model(self):
        """The fitted strategies.calibration.CalibratedModel, or None."""
        return pickle.loads(bytes(self.model_blob)) if self.model_blob else None
