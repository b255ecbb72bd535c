"""AdmissionReview ``admission.k8s.io/v1`` as typed models: what the API server sends and expects back.

Field names follow the wire format (camelCase aliases); Python code uses snake_case. The object under
review stays a plain mapping: the workload model reads it, and validating it field by field here would
cost time on every request for nothing the engine does not check itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class Operation(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CONNECT = "CONNECT"


class GroupVersionKind(_Wire):
    group: str = ""
    version: str = ""
    kind: str = ""


class GroupVersionResource(_Wire):
    group: str = ""
    version: str = ""
    resource: str = ""


class UserInfo(_Wire):
    username: str = ""
    uid: str = ""
    groups: list[str] = Field(default_factory=list)
    extra: dict[str, list[str]] = Field(default_factory=dict)


class AdmissionRequest(_Wire):
    uid: str = Field(min_length=1)
    kind: GroupVersionKind = GroupVersionKind()
    resource: GroupVersionResource = GroupVersionResource()
    sub_resource: str = ""
    request_kind: GroupVersionKind | None = None
    request_resource: GroupVersionResource | None = None
    name: str = ""
    namespace: str = ""
    operation: Operation
    user_info: UserInfo = UserInfo()
    object: dict[str, Any] | None = None
    old_object: dict[str, Any] | None = None
    dry_run: bool = False
    options: dict[str, Any] | None = None


class Status(_Wire):
    code: int | None = None
    message: str = ""
    reason: str | None = None


class AdmissionResponse(_Wire):
    uid: str
    allowed: bool
    status: Status | None = None
    warnings: list[str] | None = None
    audit_annotations: dict[str, str] | None = None


class AdmissionReview(_Wire):
    """The envelope in both directions: ``request`` on the way in, ``response`` on the way out."""

    api_version: Literal["admission.k8s.io/v1"]
    kind: Literal["AdmissionReview"]
    request: AdmissionRequest | None = None
    response: AdmissionResponse | None = None


def response_review(response: AdmissionResponse) -> dict[str, Any]:
    """The wire form of a response: ``AdmissionReview`` with ``response`` only, nulls left out."""
    return {"apiVersion": API_VERSION, "kind": KIND,
            "response": response.model_dump(by_alias=True, exclude_none=True, mode="json")}
