from rest_framework import serializers

from targets.models import TargetDatabase


class TargetDatabaseSerializer(serializers.ModelSerializer):
    dialect = serializers.CharField(read_only=True)
    table_count = serializers.SerializerMethodField()

    class Meta:
        model = TargetDatabase
        fields = [
            "id",
            "name",
            "engine",
            "dialect",
            "location",
            "description",
            "table_count",
            "created_at",
        ]

    def get_table_count(self, obj: TargetDatabase) -> int:
        return len(obj.schema)


class TargetDatabaseDetailSerializer(TargetDatabaseSerializer):
    class Meta(TargetDatabaseSerializer.Meta):
        fields = [*TargetDatabaseSerializer.Meta.fields, "schema"]


class TargetDatabaseInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    engine = serializers.ChoiceField(choices=TargetDatabase.Engine.choices)
    location = serializers.CharField(
        max_length=500,
        help_text="SQLite and DuckDB: a path relative to TARGET_DATABASE_ROOT. "
        "PostgreSQL, MariaDB: the name of a LOOPGATE_TARGET_* environment variable "
        "holding the DSN (postgres://... or mysql://user:password@host:port/database).",
    )
    description = serializers.CharField(allow_blank=True, default="")
