"""Request bodies are JSON, whatever their Content-Type says.

Bigin's own sample request is `curl -d @newowner.json`, which sends
`application/x-www-form-urlencoded`; Zoho's official SDKs and Deluge's `invokeurl` send JSON with
no Content-Type at all, or `text/plain`. Zoho reads all of them as JSON, so the API does too:
this is the one parser of every Bigin, CRM and Kenbun endpoint (REST_FRAMEWORK settings). A body
that is not JSON is a ParseError, which each dialect answers in its own envelope (Bigin's
INVALID_DATA, Kenbun's 400).
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


class AnyContentTypeJSONParser(BaseParser):
    # Matches every Content-Type, and none: DRF picks the first parser whose media type matches.
    media_type = "*/*"

    def parse(self, stream, media_type: str | None = None, parser_context=None) -> Any:
        raw = stream.read()
        try:
            text = raw.decode(_charset(media_type))
        except (LookupError, UnicodeDecodeError) as exc:
            raise ParseError("the body is not text in its declared charset") from exc
        try:
            data = json.loads(text)
        # RecursionError: JSON nested deeper than the interpreter's stack allows, a client's
        # mistake like any other malformed body.
        except (ValueError, RecursionError) as exc:
            raise ParseError("the body is not JSON") from exc
        if _SURROGATE_ESCAPE.search(text) and not _encodable(data):
            # `"\ud800"` is valid JSON but no Unicode text: no database, and no answer that
            # quotes it, can hold it.
            raise ParseError("the body holds a lone surrogate")
        return data


def _charset(media_type: str | None) -> str:
    """The declared charset, else UTF-8 (JSON's own, RFC 8259), with or without a BOM."""
    for parameter in (media_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip(' "'):
            charset = value.strip(' "')
            return "utf-8-sig" if codecs.lookup(charset).name == "utf-8" else charset
    return "utf-8-sig"


# A `\uD800`-`\uDFFF` escape: rare in real bodies, so only a body that has one is checked whole.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _encodable(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
