"""The Kubernetes OpenAPI v2 document as kubectl downloads it: gnostic ``openapi.v2.Document`` protobuf.

kubectl validates objects client-side against ``/openapi/v2``, which it only accepts as protobuf. The
schema definitions come from the ``kubernetes-validate`` package (the API server's own definitions,
re-published as JSON Schema 2020-12); this module turns them back into OpenAPI v2 shapes (``$defs`` refs
→ ``#/definitions``, ``["string", "null"]`` → ``string``, IntOrString → ``int-or-string``) and encodes them
with the field numbers of gnostic's OpenAPIv2.proto. Only the fields kubectl's validator reads are kept.
"""

from __future__ import annotations

import json
import struct
from functools import cache
from pathlib import Path
from typing import Any

import yaml

KUBERNETES_VERSION = "1.32.0"
PROTOBUF_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _str(field: int, text: str) -> bytes:
    return _bytes(field, text.encode())


def _bool(field: int, value: bool) -> bytes:
    return _varint(field << 3) + _varint(int(value))


def _double(field: int, value: float) -> bytes:
    return _varint(field << 3 | 1) + struct.pack("<d", value)


def _any_yaml(value: Any) -> bytes:
    return _str(2, yaml.safe_dump(value, default_flow_style=True).strip())  # openapi.v2.Any.yaml


def _named(name: str, value: bytes) -> bytes:
    return _str(1, name) + _bytes(2, value)


_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def _schema(s: dict[str, Any], name: str = "") -> bytes:
    if name == _INT_OR_STRING:
        s = {"type": "string", "format": "int-or-string"}
    elif name == _QUANTITY:
        s = {"type": "string"}
    out = b""
    if "$ref" in s:
        out += _str(1, s["$ref"].replace("#/$defs/", "#/definitions/"))
    if isinstance(s.get("format"), str):
        out += _str(2, s["format"])
    for key, number in (("maximum", 7), ("minimum", 9)):
        if isinstance(s.get(key), int | float):
            out += _double(number, float(s[key]))
    for req in s.get("required", ()):
        out += _str(19, req)
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out += _bytes(21, _bytes(1, _schema(extra)))
    elif isinstance(extra, bool):
        out += _bytes(21, _bool(2, extra))
    types = s.get("type")
    types = [types] if isinstance(types, str) else [t for t in types or () if t != "null"]
    if types:
        out += _bytes(22, b"".join(_str(1, t) for t in types))
    if isinstance(s.get("items"), dict):
        out += _bytes(23, _bytes(1, _schema(s["items"])))
    for part in s.get("allOf", ()):
        out += _bytes(24, _schema(part))
    props = s.get("properties")
    if isinstance(props, dict):
        out += _bytes(25, b"".join(_bytes(1, _named(k, _schema(v))) for k, v in props.items()))
    if isinstance(s.get("readOnly"), bool):
        out += _bool(27, s["readOnly"])
    for key, value in s.items():
        if key.startswith("x-kubernetes-"):
            out += _bytes(31, _named(key, _any_yaml(value)))
    return out


def definitions_file() -> Path:
    """The API server's definitions for ``KUBERNETES_VERSION``, shipped by kubernetes-validate."""
    import kubernetes_validate  # a test dependency: callers skip when it is absent

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return root / f"v{KUBERNETES_VERSION}-local" / "_definitions.json"


@cache
def definitions() -> dict[str, Any]:
    defs: dict[str, Any] = json.loads(definitions_file().read_text())["$defs"]
    return defs


@cache
def document() -> bytes:
    """The protobuf ``openapi.v2.Document`` with every definition and no paths."""
    info = _str(1, "Kubernetes") + _str(2, f"v{KUBERNETES_VERSION}")
    defs = b"".join(_bytes(1, _named(name, _schema(schema, name))) for name, schema in definitions().items())
    return _str(1, "2.0") + _bytes(2, info) + _bytes(8, b"") + _bytes(9, defs)
