"""The OpenAPI schema as the API answers: every operation lists the errors it can give, and
the headers it reads (If-Match, If-None-Match), next to what drf-spectacular infers."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework.permissions import AllowAny

ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
FIELD_ERRORS = {  # {"field": ["message", ...]}, or {"detail": "..."}
    "type": "object",
    "additionalProperties": {
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]
    },
}
WRITES = {"POST", "PUT", "PATCH"}
GUARDED = {"PUT", "PATCH", "DELETE"}  # writes to one object that If-Match can guard


class BoardSchema(AutoSchema):
    """drf-spectacular's schema with the API's own error answers and conditional headers."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._guarded():
            parameters.append(header("If-Match", "The ETag last read: 412 if it changed since."))
        if self._conditional_get():
            parameters.append(header("If-None-Match", "An ETag read before: 304 if unchanged."))
        return parameters

    def get_operation(self, *args, **kwargs):
        """Return drf-spectacular's operation with every other answer this one can give."""
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            for code, why in self._other_answers().items():
                answer = {"description": why}
                if code != 304:
                    schema = FIELD_ERRORS if code == 400 else ERROR
                    answer["content"] = {"application/json": {"schema": schema}}
                operation["responses"].setdefault(str(code), answer)
        return operation

    def _is_detail(self):
        return "{" in self.path

    def _one_object(self):
        """Whether the path is one object's own (/api/tasks/{id}/), not an action of it."""
        return self._is_detail() and self.path.count("/") == 4

    def _guarded(self):
        return self.method in GUARDED and self._one_object()

    def _conditional_get(self):
        """Whether the GET answers with an ETag (one sprint or task, a sprint's versions)."""
        if self.method != "GET":
            return False
        one = self._one_object() and "/users/" not in self.path
        return one or self.path.endswith("/versions/")

    def _other_answers(self):
        """{status: why} of this operation's answers besides success."""
        answers = {}
        public = all(isinstance(p, AllowAny) for p in self.view.get_permissions())
        if not public:
            answers[401] = "No credentials, or a token revoked, expired or unknown."
        if not public or self.path.endswith("/token/"):
            answers[429] = "Too many failed logins from this client: wait a minute."
        reads_query = self.method == "GET" and (not self._is_detail() or "burndown" in self.path)
        if self.method in WRITES or not public and reads_query:
            answers[400] = "What was sent (a field, a filter, a page size) and why it is refused."
        if self.method in WRITES:
            answers[413] = "A body over 1 MiB."
        if self._is_detail() or not public and self.method == "GET":
            answers[404] = "No such object (or page)."
        if self._guarded():
            answers[412] = "If-Match names another version: read the object again."
        if self._conditional_get():
            answers[304] = "If-None-Match names the current version."
        if self.method == "DELETE" or self.path.endswith("/move/"):
            answers[409] = "The object is in use (a sprint's tasks) or keeps changing."
        return answers


def header(name, description):
    return OpenApiParameter(name, str, OpenApiParameter.HEADER, description=description)
