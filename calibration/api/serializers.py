from rest_framework import serializers

from calibration.models import ModelVersion


class ReliabilityBinSerializer(serializers.Serializer):
    """One probability bin [lower, upper): how many signals, what they were told on average,
    and the share that reached the target (null in an empty bin)."""

    lower = serializers.FloatField()
    upper = serializers.FloatField()
    count = serializers.IntegerField()
    mean_probability = serializers.FloatField(allow_null=True)
    observed_rate = serializers.FloatField(allow_null=True)
    brier = serializers.FloatField(allow_null=True, help_text="of the signals in the bin")


class ProbabilityMetricsSerializer(serializers.Serializer):
    """How well some probabilities matched the outcomes of the held-out signals."""

    count = serializers.IntegerField()
    brier = serializers.FloatField(allow_null=True, help_text="mean squared error; lower is better")
    log_loss = serializers.FloatField(allow_null=True)
    auc = serializers.FloatField(allow_null=True, help_text="null with one outcome only")
    ece = serializers.FloatField(allow_null=True, help_text="expected calibration error, 10 bins")
    reliability = ReliabilityBinSerializer(many=True)


class HeldOutMetricsSerializer(serializers.Serializer):
    model = ProbabilityMetricsSerializer(help_text="the calibrated model")
    base_rate = ProbabilityMetricsSerializer(help_text="the training win rate for every signal")
    heuristic = ProbabilityMetricsSerializer(help_text="the strategies' strength read as a "
                                                       "probability")
    selection = serializers.DictField(help_text="walk-forward fold Brier of each candidate")
    bootstrap = serializers.DictField(help_text="Brier margin over base_rate and heuristic, "
                                                "with its one-sided 95% lower bound")


class ModelVersionSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True,
                                                allow_null=True)
    metrics = HeldOutMetricsSerializer(
        source="held_out_metrics", read_only=True, allow_null=True,
        help_text="Held-out metrics; null when there was too little data to fit a model.")

    class Meta:
        model = ModelVersion
        fields = ["id", "status", "reason", "created_at", "activated_at", "retired_at",
                  "model_name", "calibration_method", "training_start", "training_end",
                  "held_out_start", "held_out_end", "counts", "features", "data_hash",
                  "metrics", "requested_by"]
        read_only_fields = fields


class RetrainRequestSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        default=False, help_text="Retrain even when the data is unchanged since a version.")


class RetrainAcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    versions_url = serializers.CharField()
