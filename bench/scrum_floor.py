"""The floor for bench_scrum.py: the same 100 task rows as the API list, by a plain Django view.

Served by gunicorn from inside scrum/ (``--pythonpath bench``) with scrum.py's settings and
middleware, it skips only what the API adds: DRF, authentication, serializers and links.
"""

import scrum  # first: configures Django

# isort: split
from board.models import Task
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

FIELDS = (
    "id",
    "name",
    "description",
    "sprint",
    "status",
    "order",
    "assigned__username",
    "started",
    "due",
    "completed",
)


def tasks(request):
    """The first 100 tasks of a sprint in board order, as .values() rows."""
    rows = Task.objects.filter(sprint=request.GET["sprint"]).order_by("order", "id")
    return JsonResponse({"results": list(rows.values(*FIELDS)[:100])})


urlpatterns = [path("floor/tasks/", tasks)]
settings.ROOT_URLCONF = __name__
application = scrum.application
