"""The OpenAPI schema's view of every operation: the answers it can give besides success
(400, 401, 404, 409, 412, 413, 415, 429), its ETags and the headers that go with them.

drf-spectacular describes an operation's success from its serializer; BoardAutoSchema adds
what the views and the middleware answer otherwise, from what each view declares (which of
its actions are conditional on If-Match, which can conflict, which carry an ETag).
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

WRITES = {"POST", "PUT", "PATCH"}
DETAIL = {"detail": {"type": "string"}}
ERROR = {"type": "object", "properties": DETAIL, "required": ["detail"]}
INVALID = {
    "type": "object",
    "description": "The fields refused, each with its messages (non_field_errors: the rest), "
    'or {"detail": ...} for a body that cannot be read.',
    "additionalProperties": {
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]
    },
}
ERRORS = {
    "400": OpenApiResponse(INVALID, "Invalid input: a field, filter or body refused."),
    "401": OpenApiResponse(ERROR, "No credentials, or wrong ones."),
    "404": OpenApiResponse(ERROR, "No such object (or page)."),
    "409": OpenApiResponse(ERROR, "The write conflicts with the board's state."),
    "412": OpenApiResponse(ERROR, "If-Match names another version of the object."),
    "413": OpenApiResponse(ERROR, "The body is larger than 1 MiB."),
    "415": OpenApiResponse(ERROR, "The body's media type is not JSON or a form."),
    "429": OpenApiResponse(ERROR, "Too many failed logins from this client: wait Retry-After."),
}
NOT_MODIFIED = OpenApiResponse(description="Not modified: If-None-Match names the current ETag.")
ETAG = "A strong validator of the object as answered; send it back in If-Match."
IF_MATCH = (
    "Write only if the object is still at this ETag (as read with GET); otherwise 412. "
    "Without it, the write applies to whatever the object is now."
)
IF_NONE_MATCH = "An ETag the client holds: 304 without a body while it is current."
RETRY_AFTER = "Seconds until this client may log in again."


def header(name, description, response=False, kind=OpenApiTypes.STR):
    """Return a header parameter: a request's, optional, or with response=[codes] one that
    every answer with those codes carries."""
    return OpenApiParameter(
        name,
        kind,
        OpenApiParameter.HEADER,
        required=bool(response),
        description=description,
        response=response,
    )


class BoardAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with each operation's other answers and its ETags."""

    @property
    def action(self):
        """Return the viewset action this operation runs ("post" for a plain view)."""
        return getattr(self.view, "action", None) or self.method.lower()

    def declares(self, attribute):
        """Return whether the view lists this operation's action under `attribute`."""
        return self.action in getattr(self.view, attribute, ())

    def get_override_parameters(self):
        retry_after = header("Retry-After", RETRY_AFTER, ["429"], OpenApiTypes.INT)
        parameters = [*super().get_override_parameters(), retry_after]
        if self.declares("conditional_actions"):
            parameters.append(header("If-Match", IF_MATCH))
        if self.declares("cached_actions"):
            parameters.append(header("If-None-Match", IF_NONE_MATCH))
        if self.declares("tagged_actions"):
            parameters.append(header("ETag", ETAG, ["200", "201", "304"]))
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if self.declares("cached_actions"):
            responses["304"] = self._get_response_for_code(NOT_MODIFIED, "304")
        for code in self.error_codes():
            if code not in responses:
                error = ERRORS[code]
                responses[code] = self._get_response_for_code(error, code, direction=direction)
        return responses

    def error_codes(self):
        """Return the error statuses this operation can answer."""
        codes = {"401", "429"}
        if self.method in WRITES:
            codes |= {"400", "413", "415"}
        if self.action == "list" or self.has_query_parameters():
            codes.add("400")
        if "{" in self.path or self.action == "list":
            codes.add("404")  # an unknown object, or page
        if self.declares("conflict_actions"):
            codes.add("409")
        if self.declares("conditional_actions"):
            codes.add("412")
        return sorted(codes)

    def has_query_parameters(self):
        """Return whether the operation declares query parameters of its own (extend_schema)."""
        return any(
            isinstance(p, OpenApiParameter) and p.location == OpenApiParameter.QUERY
            for p in self.get_override_parameters()
        )


def empty_query_values(result, generator, request, public):
    """Return the schema with every query parameter allowing an empty value: the API takes
    `?sprint=` or `?page_size=` as if the parameter were not there (a postprocessing hook)."""
    for path in result["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "query":
                    parameter["allowEmptyValue"] = True
    return result
