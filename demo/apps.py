from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo: the whole loop on Spider data, offline (`manage.py demo`).

    It stands on every other app and nothing imports it.
    """

    name = "demo"
    verbose_name = "Demo"
