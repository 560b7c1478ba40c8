"""Webhook signatures must be accepted by the receivers' own libraries: the Cloudinary SDK and
the Standard Webhooks reference library."""

import base64
import time
from datetime import UTC, datetime

import cloudinary
import cloudinary.utils as sdk
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from medialoom.events.signing import (
    Verdict,
    cloudinary_headers,
    cloudinary_signature,
    new_endpoint_secret,
    standard_headers,
    standard_signature,
    verify_cloudinary,
    verify_standard,
)

API_SECRET = "s3cr3t-api"
BODY = b'{"notification_type":"upload","public_id":"caf\xc3\xa9/sample"}'
SDK_VECTOR = "d5497e1a206ad0ba29ad09a7c0c5f22e939682d15009c15ab3199f62fefbd14b"
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
T = 1_700_000_000


@pytest.fixture
def sdk_config():
    """The SDK reads its secret from global configuration; put it back as it was afterwards."""
    saved = dict(vars(cloudinary.config()))
    cloudinary.config(api_secret=API_SECRET)
    yield cloudinary.config()
    vars(cloudinary.config()).clear()
    cloudinary.config(**saved)


# Cloudinary ---------------------------------------------------------------------------------


def test_sdk_test_vector(sdk_config):
    # From the SDKs' own tests (Python and Java), where the secret is "someApiSecret".
    assert cloudinary_signature(b"{}", 0, "someApiSecret", "sha256") == SDK_VECTOR
    verdict = verify_cloudinary(b"{}", "0", SDK_VECTOR, "someApiSecret", algorithm="sha256", now=0)
    assert verdict == Verdict(True, None)
    sdk_config.api_secret = "someApiSecret"
    assert sdk.verify_notification_signature("{}", 0, SDK_VECTOR, valid_for=time.time() + 60,
                                             algorithm="sha256")


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_the_sdk_verifies_our_notifications(sdk_config, algorithm):
    now = int(time.time())
    headers = cloudinary_headers(BODY, now, API_SECRET, algorithm)
    assert headers["X-Cld-Timestamp"] == str(now)
    args = (BODY.decode(), headers["X-Cld-Timestamp"], headers["X-Cld-Signature"])
    assert sdk.verify_notification_signature(*args, algorithm=algorithm)
    # Without an explicit algorithm the SDK uses its configured signature_algorithm.
    sdk_config.signature_algorithm = algorithm
    assert sdk.verify_notification_signature(*args)
    other = "sha256" if algorithm == "sha1" else "sha1"
    assert not sdk.verify_notification_signature(*args, algorithm=other)
    assert not sdk.verify_notification_signature(BODY.decode() + " ", *args[1:], algorithm=algorithm)


def test_sha1_is_the_default():
    assert cloudinary_signature(BODY, T, API_SECRET) == cloudinary_signature(BODY, T, API_SECRET, "sha1")
    assert len(cloudinary_signature(BODY, T, API_SECRET)) == 40
    with pytest.raises(ValueError, match="sha1"):
        cloudinary_signature(BODY, T, API_SECRET, "md5")  # type: ignore[arg-type]


def _check(body=BODY, timestamp=str(T), signature=None, secret=API_SECRET, algorithm="sha256", now=T + 10):
    if signature is None:
        signature = cloudinary_signature(BODY, T, API_SECRET, "sha256")
    return verify_cloudinary(body, timestamp, signature, secret, algorithm=algorithm, now=now)


def test_verify_cloudinary_accepts_a_good_request():
    assert _check().ok
    assert _check(signature=cloudinary_signature(BODY, T, API_SECRET, "sha256").upper()).ok
    assert _check(timestamp=f" {T} ").ok


@pytest.mark.parametrize(("changes", "reason"), [
    ({"body": BODY + b" "}, "does not match"),
    ({"secret": "other"}, "does not match"),
    ({"signature": "0" * 64}, "does not match"),
    ({"algorithm": "sha1"}, "40-character hex SHA1"),
    ({"signature": "xyz"}, "64-character hex SHA256"),
    ({"now": T + 7201}, "7201 s old"),
    ({"now": T - 301}, "301 s in the future"),
    ({"timestamp": None}, "X-Cld-Timestamp header is missing"),
    ({"timestamp": ""}, "X-Cld-Timestamp header is missing"),
    ({"signature": ""}, "X-Cld-Signature header is missing"),
    ({"timestamp": "yesterday"}, "'yesterday' is not a Unix time"),
    ({"timestamp": "1.7e9"}, "is not a Unix time"),
    ({"timestamp": "-5"}, "is not a Unix time"),
    ({"secret": ""}, "No API secret"),
])
def test_verify_cloudinary_refuses_with_a_reason(changes, reason):
    verdict = _check(**changes)
    assert not verdict.ok
    assert reason in verdict.reason


def test_verify_cloudinary_window_edges_are_inclusive():
    assert _check(now=T + 7200).ok
    assert _check(now=T - 300).ok
    assert verify_cloudinary(BODY, str(T), cloudinary_signature(BODY, T, API_SECRET), API_SECRET,
                             algorithm="sha1", now=T + 86400, valid_for=86400).ok


# Standard Webhooks ------------------------------------------------------------------------


def test_new_endpoint_secrets_are_random_and_usable():
    first, second = new_endpoint_secret(), new_endpoint_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    now = int(time.time())
    Webhook(first).verify(BODY, standard_headers(first, "msg_1", now, BODY))


def test_the_library_verifies_our_headers():
    now = int(time.time())
    headers = standard_headers(SECRET, "msg_2abc", now, BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(SECRET).verify(BODY, headers) == {"notification_type": "upload",
                                                     "public_id": "café/sample"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY + b" ", headers)


def test_the_library_agrees_on_the_tolerance():
    # Just outside our 300 s tolerance, either way, the library refuses too.
    for offset in (-310, 310):
        stamp = int(time.time()) + offset
        with pytest.raises(WebhookVerificationError, match="too (old|new)"):
            Webhook(SECRET).verify(BODY, standard_headers(SECRET, "msg_3", stamp, BODY))


def test_we_verify_the_librarys_signatures():
    signature = Webhook(SECRET).sign("msg_4", datetime.fromtimestamp(T, UTC), BODY.decode())
    assert signature == standard_signature(SECRET, "msg_4", T, BODY)
    headers = {"Webhook-Id": "msg_4", "WEBHOOK-TIMESTAMP": str(T), "webhook-signature": signature}
    assert verify_standard(SECRET, headers, BODY, now=T) == Verdict(True, None)
    # The prefix is optional, as in the library.
    assert verify_standard(SECRET.removeprefix("whsec_"), headers, BODY, now=T).ok


def _headers(stamp=T, message_id="msg_5", without=None):
    headers = standard_headers(SECRET, message_id, stamp, BODY)
    headers.pop(without, None)
    return headers


def test_verify_standard_tolerance_both_ways():
    assert verify_standard(SECRET, _headers(), BODY, now=T + 300).ok
    assert verify_standard(SECRET, _headers(), BODY, now=T - 300).ok
    assert "301 s old" in verify_standard(SECRET, _headers(), BODY, now=T + 301).reason
    assert "301 s in the future" in verify_standard(SECRET, _headers(), BODY, now=T - 301).reason
    assert verify_standard(SECRET, _headers(), BODY, now=T + 1000, tolerance=1000).ok


def test_any_one_of_several_signatures_may_match():
    old_secret, new_secret = new_endpoint_secret(), SECRET
    old = standard_signature(old_secret, "msg_5", T, BODY)
    new = standard_signature(new_secret, "msg_5", T, BODY)
    rotating = {**_headers(), "webhook-signature": f"{old} {new}"}
    assert verify_standard(old_secret, rotating, BODY, now=T).ok
    assert verify_standard(new_secret, rotating, BODY, now=T).ok
    assert not verify_standard(new_endpoint_secret(), rotating, BODY, now=T).ok
    # Other versions (v1a is the asymmetric scheme) are skipped, not fatal.
    mixed = {**_headers(), "webhook-signature": f"v1a,c29tZXRoaW5n {new}"}
    assert verify_standard(SECRET, mixed, BODY, now=T).ok
    # The library reads a rotated header the same way.
    now = int(time.time())
    live = standard_headers(SECRET, "msg_6", now, BODY)
    old_signature = standard_signature(old_secret, "msg_6", now, BODY)
    live["webhook-signature"] = f"{old_signature} {live['webhook-signature']}"
    Webhook(SECRET).verify(BODY, live)


@pytest.mark.parametrize(("headers", "reason"), [
    ({**_headers(), "webhook-id": "msg_other"}, "No webhook-signature matches"),
    ({**_headers(), "webhook-signature": "v1a,c29tZXRoaW5n v2,abc"}, "no 'v1,<base64>' signature"),
    (_headers(without="webhook-id"), "webhook-id header is missing"),
    (_headers(without="webhook-signature"), "webhook-signature header is missing"),
    ({**_headers(), "webhook-timestamp": ""}, "webhook-timestamp header is missing"),
    ({**_headers(), "webhook-timestamp": "soon"}, "'soon' is not a Unix time"),
])
def test_verify_standard_refuses_with_a_reason(headers, reason):
    verdict = verify_standard(SECRET, headers, BODY, now=T)
    assert not verdict.ok
    assert reason in verdict.reason


def test_tampered_body_is_refused():
    assert "No webhook-signature matches" in verify_standard(SECRET, _headers(), BODY + b"\n", now=T).reason


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_", "", "whsec_A"])
def test_bad_secrets_are_refused_clearly(secret):
    verdict = verify_standard(secret, _headers(), BODY, now=T)
    assert not verdict.ok
    assert "webhook secret" in verdict.reason
    with pytest.raises(ValueError, match="webhook secret"):
        standard_signature(secret, "msg_7", T, BODY)
