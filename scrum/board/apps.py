from django.apps import AppConfig


class BoardConfig(AppConfig):
    name = "board"
    verbose_name = "Scrum board"

    def ready(self):
        """Connect the signals that revoke live access (a login ended, a user removed) and
        keep prepared statements working through a migration."""
        from . import prepared, tokens  # noqa: F401
