import django_filters

from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion


class PromptTemplateFilter(django_filters.FilterSet):
    target_database = django_filters.CharFilter(field_name="target_database__name")
    owner = django_filters.CharFilter(field_name="owner__username")

    class Meta:
        model = PromptTemplate
        fields = ["risk_tier", "target_database", "owner"]


class PromptVersionFilter(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="template__name")
    author = django_filters.CharFilter(field_name="author__username")

    class Meta:
        model = PromptVersion
        fields = ["template", "author"]


class ModelVersionFilter(django_filters.FilterSet):
    class Meta:
        model = ModelVersion
        fields = ["provider", "model_identifier"]


class LabelFilter(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="template__name")

    class Meta:
        model = Label
        fields = ["template", "name"]
