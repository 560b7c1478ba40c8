"""A call to a catch-webhook trigger's URL, checked before it may start a run. Pure: the caller
passes the request's headers and bytes, the trigger's parameters and the secrets; the answer is
the run's trigger payload or a ``WebhookRefused`` with the HTTP status to answer.

The body is data: JSON (an object or any value) or an urlencoded form, kept as it came; nothing
in it is evaluated. Signatures are checked over the exact bytes received.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from medialoom.events.signing import verify_cloudinary, verify_standard
from medialoom.flows.triggers import WebhookParams, check_inputs

ACCEPTED_TYPES = ("application/json", "application/x-www-form-urlencoded")
# Headers a flow may read as trigger.headers (not cookies, not credentials).
PASSED_HEADERS = ("content-type", "user-agent", "x-request-id", "webhook-id", "x-cld-timestamp")


class WebhookRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Secrets:
    api_secret: str  # the environment's, for Cloudinary signatures
    signature_algorithm: str
    shared: str | None  # the flow variable named by secret_variable, if any


def accept(params: WebhookParams, headers: Mapping[str, str], body: bytes, secrets: Secrets, *,
           now: float) -> dict[str, Any]:
    """The trigger payload for a call, or WebhookRefused (401 bad signature, 413 too large,
    415 unsupported type, 400 malformed or invalid inputs)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if len(body) > params.max_bytes:
        raise WebhookRefused(413, f"The body is larger than this webhook takes ({params.max_bytes} bytes)")
    _verify(params, lowered, body, secrets, now)
    content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise WebhookRefused(415, f"Content-Type {content_type or '(none)'} is not accepted: "
                             f"send {' or '.join(ACCEPTED_TYPES)}")
    data = _parse(content_type, body)
    inputs: dict[str, Any] = {}
    if params.parameters:
        if not isinstance(data, dict):
            raise WebhookRefused(400, "This webhook declares parameters: send a JSON object or a form")
        declared = {spec.name for spec in params.parameters}
        try:
            inputs = check_inputs(params.parameters, {k: v for k, v in data.items() if k in declared})
        except ValueError as error:
            raise WebhookRefused(400, f"Invalid webhook body: {error}") from None
    return {"body": data, "inputs": inputs,
            "headers": {name: lowered[name] for name in PASSED_HEADERS if name in lowered}}


def _verify(params: WebhookParams, headers: dict[str, str], body: bytes, secrets: Secrets, now: float) -> None:
    if params.verification == "none":
        return
    if params.verification == "cloudinary":
        verdict = verify_cloudinary(body, headers.get("x-cld-timestamp"), headers.get("x-cld-signature"),
                                    secrets.api_secret, algorithm=secrets.signature_algorithm, now=now)
        if not verdict.ok:
            raise WebhookRefused(401, verdict.reason or "Invalid signature")
        return
    if not secrets.shared:
        raise WebhookRefused(401, f"The flow's secret variable {params.secret_variable!r} is not set")
    if params.verification == "header_secret":
        offered = headers.get(params.header_name.lower(), "")
        if not hmac.compare_digest(offered.encode(), secrets.shared.encode()):
            raise WebhookRefused(401, f"The {params.header_name} header does not hold the shared secret")
        return
    verdict = verify_standard(secrets.shared, headers, body, now=now)
    if not verdict.ok:
        raise WebhookRefused(401, verdict.reason or "Invalid signature")


def _parse(content_type: str, body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRefused(400, "The body is not UTF-8") from None
    if content_type == "application/json":
        try:
            return json.loads(text) if text.strip() else None
        except RecursionError:
            raise WebhookRefused(400, "The JSON body is nested too deeply") from None
        except ValueError as error:
            raise WebhookRefused(400, f"Malformed JSON body: {error}") from None
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=1000)
    except ValueError:
        raise WebhookRefused(400, "The form has more than 1000 fields") from None
    return {name: values[0] if len(values) == 1 else values for name, values in fields.items()}
