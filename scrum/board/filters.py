"""The book's filter sets (backlog null filter, assigned by username, end_min/end_max), the
strict ordering backend, the pagination shared by every list and the rows of the list a
board asks for most (a sprint's tasks, a page at a time), read by queries compiled once."""

from collections import namedtuple
from functools import cache

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import F
from django.db.models.expressions import RawSQL
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.pagination import PageNumberPagination

from .compiled import CompiledQuery
from .models import Sprint, Task
from .serializers import TASK_ROW

User = get_user_model()
MAX_ID = 2**31 - 1  # the largest id PostgreSQL's integer keys hold
BOARD_ORDER = ("order", "id")  # lists' order: the board_task_list index's, no sort needed


class StrictBooleanField(forms.Field):
    """true or false (also 1/0, any case); anything else is an error, not "no filter"."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self.VALUES[value.lower()]
        except KeyError:
            raise forms.ValidationError("Use true or false.", code="invalid") from None


class StrictBooleanFilter(django_filters.BooleanFilter):
    """A boolean field's filter (archived=true) that refuses what is neither true nor false."""

    field_class = StrictBooleanField


class NullFilter(StrictBooleanFilter):
    """Filter on whether a related field is set (backlog=true: tasks without a sprint)."""

    def filter(self, qs, value):
        if value is not None:
            return qs.filter(**{f"{self.field_name}__isnull": value})
        return qs


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.Filter):
    """A related object's id, validated as a number from 1 to MAX_ID without a query: the hot
    task list filters by sprint on every request (the view checks unknown ids when nothing
    matched)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=MAX_ID, **kwargs)


class SharedFields(dict):
    """A form class's fields, which each of its forms uses as they are: Django's forms
    deep-copy them (a copy of every field, widget and queryset: 0.15 ms of a list request)."""

    def __deepcopy__(self, memo):
        return self


class BoardFilterSet(django_filters.FilterSet):
    """A filter set that builds its form class once rather than on every list request
    (django-filter makes a new class with new form fields each time), and whose forms share
    that class's fields. Safe because these filters' fields hold no per-request state: their
    querysets are fixed, and cleaning a value changes nothing in a field."""

    def get_form_class(self):
        cls = type(self)
        if "form_class" not in cls.__dict__:
            cls.form_class = super().get_form_class()
            cls.form_class.base_fields = SharedFields(cls.form_class.base_fields)
        return cls.form_class


class SprintFilter(BoardFilterSet):
    end_min = django_filters.DateFilter(field_name="end", lookup_expr="gte")
    end_max = django_filters.DateFilter(field_name="end", lookup_expr="lte")
    archived = StrictBooleanFilter()

    class Meta:
        model = Sprint
        fields = ("end_min", "end_max", "archived")


class TaskFilter(BoardFilterSet):
    sprint = IdFilter(label="Sprint")
    backlog = NullFilter(field_name="sprint", label="Backlog")
    assigned = django_filters.ModelChoiceFilter(
        queryset=User.objects.all(), to_field_name=User.USERNAME_FIELD, label="Assigned"
    )

    class Meta:
        model = Task
        fields = ("sprint", "status", "assigned", "backlog")


class FirstPageCounts(Paginator):
    """Django's paginator, except that the first page is read as up to one row more than it
    holds: when every row fits, their number is the count and no COUNT query is made (the
    board asks for pages of 500, so a sprint's list is one query less). Otherwise the extra
    row is dropped and the count is asked for as before."""

    def page(self, number):
        if number not in (1, "1"):
            return super().page(number)
        rows = list(self.object_list[: self.per_page + 1])
        if len(rows) <= self.per_page:
            self.count = len(rows)  # Paginator.count is a cached_property
        return self._get_page(rows[: self.per_page], 1, self)


def task_rows(tasks, *more):
    """Tasks as the rows lists serialize (TASK_ROW, then any more columns), with the
    assignee's username: building model objects would be most of a page's cost."""
    username = F(f"assigned__{User.USERNAME_FIELD}")
    return tasks.annotate(assigned_username=username).values_list(*TASK_ROW, *more)


class SprintTasks:
    """A sprint's tasks in board order, as list rows, for the paginator: what the board asks
    for most, read with queries compiled once rather than a queryset built and compiled for
    each request. Each row of a page comes with the number of the sprint's tasks, so the
    first page of a big sprint needs no COUNT query of its own: one statement less, and a
    100-task page of a sprint of 1,000 (10,000) tasks took 2.05 (2.64) ms of server and
    database CPU instead of 2.17-2.25 (2.86-2.90). A later page asks for the count first, as
    Django's paginator does."""

    ordered = True  # for the paginator

    def __init__(self, sprint):
        self.sprint = sprint
        self.total = None  # the sprint's tasks, as the page read counted them

    def count(self):
        if self.total is None:
            with connection.cursor() as cursor:
                cursor.execute(sprint_queries().count, [self.sprint])
                self.total = cursor.fetchone()[0]
        return self.total

    def __getitem__(self, bounds):
        """The rows of a slice (the paginator asks only for slices), without their count."""
        limits = connection.ops.limit_offset_sql(bounds.start or 0, bounds.stop)
        rows = sprint_queries().tasks.rows([self.sprint, self.sprint], f" {limits}")
        if rows:
            self.total = rows[0][-1]
        return [row[:-1] for row in rows]


SprintQueries = namedtuple("SprintQueries", "tasks count")


@cache
def sprint_queries():
    """A sprint's tasks as list rows each followed by their count (a CompiledQuery, without
    LIMIT), and the SQL of the count alone, each taking the sprint's id."""
    in_sprint = Task.objects.filter(sprint=0)
    ids = CompiledQuery(in_sprint.values("pk"), (0,))
    count = f"SELECT COUNT(*) FROM ({ids.sql}) rows"
    counted = in_sprint.annotate(total=RawSQL(count, (0,))).order_by(*BOARD_ORDER)
    tasks = CompiledQuery(task_rows(counted, "total"), (0, 0))
    assert tasks.columns == (*TASK_ROW, "total"), tasks.columns  # what __getitem__ unpacks
    return SprintQueries(tasks, count)


class Pagination(PageNumberPagination):
    """Pages of 25 by default; page_size asks for 1 to 500 (anything else is a 400, as the
    schema says). 500 lets the board load a big sprint in one request."""

    django_paginator_class = FirstPageCounts
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        whole = value and value.isascii() and value.isdecimal()
        if value and not (whole and 0 < int(value) <= self.max_page_size):
            message = f"A whole number from 1 to {self.max_page_size}."
            raise exceptions.ValidationError({self.page_size_query_param: [message]})
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view):
        """Return DRF's page and page_size parameters with their bounds."""
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.page_query_param: {"minimum": 1}}
        bounds[self.page_size_query_param] = {
            "minimum": 1,
            "maximum": self.max_page_size,
            "default": self.page_size,
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class StrictOrderingFilter(OrderingFilter):
    """Ordering that answers 400 for unknown fields instead of silently ignoring them."""

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        invalid = [term for term in fields if term not in valid]
        if invalid:
            context = {"request": request}
            allowed = sorted(name for name, _ in self.get_valid_fields(queryset, view, context))
            message = (
                f"Unknown ordering {', '.join(map(repr, invalid))}; "
                f"use {', '.join(allowed)}, optionally prefixed with '-'."
            )
            raise exceptions.ValidationError({self.ordering_param: [message]})
        return valid

    def get_schema_operation_parameters(self, view):
        """Return the ordering parameter as the schema's list of the fields allowed."""
        fields = [name for field in view.ordering_fields for name in (field, f"-{field}")]
        items = {"type": "string", "enum": fields}
        parameter = super().get_schema_operation_parameters(view)[0]
        parameter.update(schema={"type": "array", "items": items}, style="form", explode=False)
        return [parameter]


class FieldSearchFilter(SearchFilter):
    """DRF's search, its refusals (a NUL in the terms) keyed by the parameter like every
    other filter's."""

    def get_search_terms(self, request):
        try:
            return super().get_search_terms(request)
        except exceptions.ValidationError as error:
            raise exceptions.ValidationError({self.search_param: error.detail}) from None
