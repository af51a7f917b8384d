from django.apps import AppConfig


class BoardConfig(AppConfig):
    name = "board"
    verbose_name = "Scrum board"

    def ready(self):
        """Connect the signals that revoke live access (a login ended, a user removed)."""
        from . import tokens  # noqa: F401
