"""django-ninja's peer for bench_scrum.py: the task list as a ninja user would write it.

GET /api/tasks/?sprint=N&page_size=S[&page=P] with the same token (``Authorization: Token
...``), the same JSON body and the same Scrum-Versions header as the scrum API, written the way
django-ninja's documentation shows: an HttpBearer subclass for the token, a Schema with
resolvers for the derived fields, a pagination class for DRF's page shape (count, next,
previous, results; ninja counts with a separate query), the model objects with
select_related, and the orjson renderer of its documentation. Served by gunicorn from inside
scrum/ (``--pythonpath bench``) on scrum.py's settings, middleware and database, as the API is.
"""

import scrum  # first: configures Django

# isort: split
from datetime import date
from urllib.parse import urlencode

import orjson
from board.models import Task, Token
from board.views import scope_versions
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path
from ninja import Field, NinjaAPI, Router, Schema
from ninja.pagination import PaginationBase, paginate
from ninja.renderers import BaseRenderer
from ninja.security import HttpBearer

STATUS_LABELS = dict(Task.STATUS_CHOICES)


class ORJSONRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request, data, *, response_status):
        return orjson.dumps(data)


class TokenAuth(HttpBearer):
    """``Authorization: Token <key>``, the board's tokens, for an active user."""

    openapi_scheme = "token"

    def authenticate(self, request, token):
        found = Token.objects.select_related("user").filter(key=token).first()
        return found.user if found and found.user.is_active else None


def api_root(request):
    if not hasattr(request, "api_root"):
        request.api_root = request.build_absolute_uri("/api/")
    return request.api_root


class TaskOut(Schema):
    id: int
    name: str
    description: str
    sprint: int | None
    status: int
    status_display: str
    order: int
    assigned: str | None
    started: date | None
    due: date | None
    completed: date | None
    links: dict[str, str | None]

    @staticmethod
    def resolve_sprint(task):
        return task.sprint_id

    @staticmethod
    def resolve_status_display(task):
        return STATUS_LABELS[task.status]

    @staticmethod
    def resolve_assigned(task):
        return task.assigned.username if task.assigned_id else None

    @staticmethod
    def resolve_links(task, context):
        root = api_root(context["request"])
        return {
            "self": f"{root}tasks/{task.id}/",
            "sprint": f"{root}sprints/{task.sprint_id}/" if task.sprint_id else None,
            "assigned": f"{root}users/{task.assigned.username}/" if task.assigned_id else None,
        }


def page_link(request, page):
    """DRF's link to another page: the query with `page` set (page 1: removed), sorted."""
    params = {key: request.GET.getlist(key) for key in request.GET if key != "page"}
    if page > 1:
        params["page"] = [str(page)]
    base = request.build_absolute_uri(request.path)
    return f"{base}?{urlencode(sorted(params.items()), doseq=True)}"


class BoardPagination(PaginationBase):
    """DRF's page numbers and page shape: pages of 25, page_size up to 500."""

    class Input(Schema):
        page: int = Field(1, ge=1)
        page_size: int = Field(25, ge=1)

    class Output(Schema):
        count: int
        next: str | None
        previous: str | None
        results: list[TaskOut]

    items_attribute = "results"

    def paginate_queryset(self, queryset, pagination, request, **params):
        size = min(pagination.page_size, 500)
        first = (pagination.page - 1) * size
        count = self._items_count(queryset)
        last = pagination.page * size >= count
        return {
            "count": count,
            "next": None if last else page_link(request, pagination.page + 1),
            "previous": page_link(request, pagination.page - 1) if pagination.page > 1 else None,
            "results": queryset[first : first + size],
        }


router = Router()


@router.get("/tasks/", response=list[TaskOut])
@paginate(BoardPagination)
def list_tasks(request: HttpRequest, response: HttpResponse, sprint: int):
    response["Scrum-Versions"] = orjson.dumps(scope_versions(sprint)).decode()
    return Task.objects.filter(sprint=sprint).select_related("assigned").order_by("order", "id")


api = NinjaAPI(renderer=ORJSONRenderer(), auth=TokenAuth(), docs_url=None, openapi_url=None)
api.add_router("/", router)
urlpatterns = [path("api/", api.urls)]
settings.ROOT_URLCONF = __name__
application = scrum.application
