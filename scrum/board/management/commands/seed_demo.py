"""python scrum.py seed_demo: the demo user (demo / test) and a current sprint with tasks.

Idempotent: run it again and nothing is duplicated; the demo password is reset to "test".
"""

from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from board import tokens
from board.models import Sprint, Task

DEMO_SPRINT = "Demo sprint"
DEMO_TASKS = [  # (name, status, days since started, days since completed)
    ("Sketch the board layout", Task.STATUS_TODO, None, None),
    ("Write the release notes", Task.STATUS_TODO, None, None),
    ("Drag and drop between columns", Task.STATUS_IN_PROGRESS, 2, None),
    ("Burndown chart", Task.STATUS_IN_PROGRESS, 1, None),
    ("Token login", Task.STATUS_TESTING, 4, None),
    ("Sprint list", Task.STATUS_DONE, 6, 3),
    ("Task detail view", Task.STATUS_DONE, 5, 1),
]
BACKLOG_TASKS = ["Dark mode", "Keyboard shortcuts"]


class Command(BaseCommand):
    help = "Create the demo user (demo / test) and a current sprint with tasks in every column."

    @transaction.atomic
    def handle(self, *args, **options):
        user = self.demo_user()
        token = self.demo_token(user)
        sprint, created = self.demo_sprint()
        if created:
            self.add_tasks(sprint, user)
        verb = "Created" if created else "Kept"
        self.stdout.write(f"{verb} {sprint.name!r} (id {sprint.pk}, ends {sprint.end}).")
        self.stdout.write(f"Log in as demo / test; API token for demo: {token.key}")

    def demo_token(self, user):
        """Return the demo user's most recently used token if still valid, else a new one."""
        token = user.api_tokens.order_by("-last_used").first()
        if token is None or tokens.is_idle(token, timezone.now()):
            token = tokens.issue(user)
        return token

    def demo_user(self):
        user, _ = get_user_model().objects.get_or_create(
            username="demo", defaults={"first_name": "Demo", "last_name": "User"}
        )
        user.set_password("test")
        user.save()
        return user

    def demo_sprint(self):
        """The current demo sprint; a new one once the last has ended."""
        current = Sprint.objects.filter(name=DEMO_SPRINT, end__gte=date.today()).first()
        if current:
            return current, False
        end = date.today() + timedelta(days=7)
        while Sprint.objects.filter(end=end).exists():
            end += timedelta(days=1)
        return Sprint.objects.create(name=DEMO_SPRINT, start=date.today(), end=end), True

    def add_tasks(self, sprint, user):
        today = date.today()
        orders = {}
        for name, status, started, completed in DEMO_TASKS:
            order = orders[status] = orders.get(status, -1) + 1
            Task.objects.create(
                name=name,
                sprint=sprint,
                status=status,
                order=order,
                assigned=user if status != Task.STATUS_TODO else None,
                started=today - timedelta(days=started) if started is not None else None,
                completed=today - timedelta(days=completed) if completed is not None else None,
            )
        if not Task.objects.filter(sprint=None).exists():
            for order, name in enumerate(BACKLOG_TASKS):
                Task.objects.create(name=name, order=order)
