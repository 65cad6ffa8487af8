from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The pages people work in: each role's home and the stakeholder dashboard.

    They read from every domain app, so the portal stands beside the demo on top of
    them and nothing imports it.
    """

    name = "portal"
    verbose_name = "Portal"
