from django import template

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """0.6666 -> "66.7%"; nothing measured -> "-"."""
    return "-" if value is None else f"{value:.1%}"
