"""The body of a track request: the batch's envelopes as one compact JSON array.

Serialising took a third of the export thread's time. Log envelopes, by far the most numerous,
have a fixed shape whose tags and most properties repeat record after record, so their JSON is
put together from remembered pieces; anything else goes through the JSON encoder. Either way the
bytes are exactly what ``json.dumps`` with the same options writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ...model.scrubbing import safe_str
from .. import Envelope

__all__ = ["serialize_batch"]


def serialize_batch(envelopes: list[Envelope]) -> bytes:
    """The request body for ``envelopes`` (before compression): a compact JSON array.

    Byte for byte what ``json.dumps(envelopes, ensure_ascii=False, default=safe_str,
    separators=(",", ":"))`` writes, which took a third of the export thread's time. Log
    envelopes are written from remembered pieces instead: their tags and most of their
    properties repeat record after record, so the JSON of each is worked out once.
    """
    text = "[" + ",".join(map(_envelope_json, envelopes)) + "]"
    # "replace": a lone surrogate (undecodable bytes in a log message) must not cost the batch.
    return text.encode("utf-8", "replace")


#: Compact, and no cycle check: the builder's envelopes are trees of str, numbers and dicts.
_encode = json.JSONEncoder(
    ensure_ascii=False, default=safe_str, check_circular=False, separators=(",", ":")
).encode
_string: Callable[[str], str] = json.encoder.encode_basestring  # the same escaping as _encode
_ENVELOPE_KEYS = ("iKey", "tags", "time", "name", "data")
_DATA_KEYS = ("baseData", "baseType")
_MESSAGE_KEYS = ("ver", "message", "severityLevel", "properties")
#: JSON of whole tags dicts, and of single ``"name":"value"`` properties, each bounded.
_tag_texts: dict[tuple[tuple[Any, ...], tuple[Any, ...]], str] = {}
_property_texts: dict[tuple[Any, Any], str] = {}
#: Pairs seen once (not remembered yet), bounded like the memo.
_pairs_seen: set[tuple[Any, Any]] = set()
_TEXTS_MAX = 4096
_PROPERTY_TEXT_VALUE_MAX = 128


def _envelope_json(envelope: Envelope) -> str:
    """One envelope's JSON; anything not shaped as the builder makes it goes to ``_encode``."""
    try:
        if type(envelope) is dict and tuple(envelope) == _ENVELOPE_KEYS:
            tags, data = envelope["tags"], envelope["data"]
            if type(tags) is dict and type(data) is dict and tuple(data) == _DATA_KEYS:
                base = data["baseData"]
                if (
                    type(base) is dict
                    and tuple(base) == _MESSAGE_KEYS
                    and type(base["ver"]) is int
                    and type(base["severityLevel"]) is int
                    and type(base["properties"]) is dict
                ):
                    base_json = (
                        f'{{"ver":{base["ver"]},"message":{_string(base["message"])},'
                        f'"severityLevel":{base["severityLevel"]},'
                        f'"properties":{_properties_json(base["properties"])}}}'
                    )
                else:
                    base_json = _encode(base)
                return (
                    f'{{"iKey":{_string(envelope["iKey"])},"tags":{_tags_json(tags)},'
                    f'"time":{_string(envelope["time"])},"name":{_string(envelope["name"])},'
                    f'"data":{{"baseData":{base_json},"baseType":{_string(data["baseType"])}}}}}'
                )
    except TypeError:
        pass  # not text where text was expected (or unhashable): the encoder says what it is
    return _encode(envelope)


def _tags_json(tags: dict[Any, Any]) -> str:
    """A tags dict's JSON; the tags of one operation are the same on all of its items."""
    key = (tuple(tags), tuple(tags.values()))  # two tuples rather than a tuple of pairs
    text = _tag_texts.get(key)
    if text is None:
        text = _encode(tags)
        # Text only: equal keys must mean equal JSON, and 1 == 1.0 == True.
        if all(type(name) is str and type(value) is str for name, value in tags.items()):
            if len(_tag_texts) >= _TEXTS_MAX:
                _tag_texts.clear()
            _tag_texts[key] = text
    return text


def _properties_json(properties: dict[Any, Any]) -> str:
    """Properties' JSON, one remembered ``"name":"value"`` at a time (values vary by record)."""
    texts = [*map(_property_texts.get, properties.items())]  # the loop runs in C
    try:
        return "{" + ",".join(texts) + "}"  # type: ignore[arg-type]
    except TypeError:  # a pair not remembered (None): usually the first record of its kind
        pass
    pairs = tuple(properties.items())
    for index, text in enumerate(texts):
        if text is None:
            texts[index] = _pair_json(pairs[index])
    return "{" + ",".join(texts) + "}"  # type: ignore[arg-type]


def _pair_json(pair: tuple[Any, Any]) -> str:
    """One ``"name":"value"``, remembered when the value is short and seen before.

    A pair is remembered on its second sighting: values seen once (an order number, an
    amount) would otherwise fill the memo and, clearing it, evict the pairs that do repeat.
    """
    name, value = pair
    text = f"{_string(name)}:{_string(value)}"  # TypeError unless both are text
    if len(value) <= _PROPERTY_TEXT_VALUE_MAX:
        if pair in _pairs_seen:
            if len(_property_texts) >= _TEXTS_MAX:
                _property_texts.clear()
            _property_texts[pair] = text
        else:
            if len(_pairs_seen) >= _TEXTS_MAX:
                _pairs_seen.clear()
            _pairs_seen.add(pair)
    return text
