"""JSON rendered by orjson, byte for byte what DRF's JSONRenderer writes, several times faster:
rendering is a large part of a 500-task list."""

import orjson
from rest_framework.renderers import JSONRenderer

# Dates and times go to DRF's encoder, which formats them its own way; so do dataclasses,
# which DRF does not serialize at all.
OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class FastJSONRenderer(JSONRenderer):
    """DRF's compact, unicode JSON (its defaults) with U+2028/U+2029 escaped, from orjson.

    Indented output (the browsable API, `Accept: application/json; indent=4`) and anything
    orjson refuses (integers beyond 64 bits, non-string keys, deep nesting) are left to DRF.
    orjson writes some floats differently (1e+16 as 1e16), so this is only for data without
    floats, as every scrum API answer is.
    """

    encoder = JSONRenderer.encoder_class()

    def render(self, data, accepted_media_type=None, renderer_context=None):
        indent = self.get_indent(accepted_media_type, renderer_context or {})
        if data is None or indent is not None or self.ensure_ascii or not self.compact:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            content = orjson.dumps(data, default=self.encoder.default, option=OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        return content.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
