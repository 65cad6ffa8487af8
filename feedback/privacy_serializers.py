"""API shapes of privacy requests: the raw user id goes in, only its pseudonym
comes out."""

from django.contrib.auth.models import User
from rest_framework import serializers

from feedback.models import PrivacyRequest


class PrivacyRequestSerializer(serializers.ModelSerializer):
    requested_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = PrivacyRequest
        fields = [
            "id",
            "kind",
            "subject_pseudonym",
            "effective_at",
            "reference",
            "requested_by",
            "status",
            "result",
            "error",
            "created_at",
            "completed_at",
        ]


class PrivacyRequestInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[PrivacyRequest.Kind.REVOCATION, PrivacyRequest.Kind.ERASURE]
    )
    user_id = serializers.CharField(
        max_length=200,
        trim_whitespace=False,
        help_text="The user id as the assistant sends it; only its pseudonym is "
        "stored.",
    )
    effective_at = serializers.DateTimeField(
        required=False,
        help_text="When consent was withdrawn: now (default) or earlier.",
    )
    reference = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=200
    )
