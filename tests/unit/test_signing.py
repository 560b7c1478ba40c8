"""Signatures must be byte-identical to what the official SDK computes."""

import cloudinary.utils as sdk
from hypothesis import given, settings
from hypothesis import strategies as st

from medialoom.auth.signing import (
    response_signature,
    sign_params,
    signature_matches,
    string_to_sign,
    url_signature,
    url_signature_matches,
)

VECTOR = {"timestamp": "1315060510", "public_id": "sample_image", "eager": "w_400,h_300,c_pad|w_260,h_200,c_crop"}


def test_documented_vectors():
    assert sign_params(VECTOR, "abcd") == "bfd09f95f331f558cbd1320e67aa8d488770583e"
    assert sign_params(VECTOR, "abcd", "sha256") == "cc927e1290f9e3ae4c1a741eda21a4630b4ce80f9ce0bc0296337d25cf40f91e"
    tags_call = {"command": "add", "public_ids": ["a", "b"], "tag": "t", "timestamp": "1795351997"}
    assert sign_params(tags_call, "secret") == "72c4d2e10b23fda678733af8ddcf01ad87aef9ff"


def test_excluded_and_empty_parameters_are_not_signed():
    with_extras = {**VECTOR, "file": "x", "api_key": "k", "resource_type": "image", "cloud_name": "c",
                   "signature": "s", "tags": ""}
    assert string_to_sign(with_extras) == string_to_sign(VECTOR)


def test_ampersand_cannot_smuggle_a_parameter():
    smuggled = {"public_id": "x&overwrite=true", "timestamp": "1"}
    separate = {"public_id": "x", "overwrite": "true", "timestamp": "1"}
    assert string_to_sign(smuggled) != string_to_sign(separate)
    assert not signature_matches(separate, sign_params(smuggled, "s"), "s")


def test_notification_url_may_be_left_unsigned():
    params = {"command": "add", "tag": "t", "public_ids": ["a"], "timestamp": "1"}
    signature = sign_params(params, "s")
    assert signature_matches({**params, "notification_url": "https://x.example/hook"}, signature, "s")
    assert not signature_matches({**params, "tag": "u"}, signature, "s")


def test_wrong_length_and_wrong_secret_fail():
    signature = sign_params(VECTOR, "abcd")
    assert not signature_matches(VECTOR, signature[:-1], "abcd")
    assert not signature_matches(VECTOR, signature, "abce")


def test_url_signature_vectors():
    assert url_signature("sample.jpg", "b") == "v2fTPYTu"
    assert url_signature("sample.jpg", "b", algorithm="sha256") == "2hbrSMPO"
    assert url_signature("sample.jpg", "b", long=True) == "2hbrSMPOjj5BJ4xV7SgFbRDevFaQNUFf"
    assert url_signature_matches("c_crop,h_20,w_10/image.jpg", "Ai4Znfl3", "b")
    assert not url_signature_matches("c_crop,h_20,w_10/image.jpg", "Ai4Znfl4", "b")


safe_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@settings(max_examples=300)
@given(st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), st.one_of(safe_text, st.lists(safe_text, min_size=1, max_size=3)), max_size=8))
def test_matches_the_sdk_for_any_parameters(params):
    params = {k: v for k, v in params.items() if k not in ("file", "api_key", "resource_type", "cloud_name", "signature")}
    expected = sdk.api_sign_request(dict(params), "secret", "sha1", 2)
    assert sign_params(params, "secret") == expected
    assert signature_matches(params, expected, "secret")


def test_response_signature_is_what_the_sdk_verifies():
    import cloudinary

    cloudinary.config(api_secret="s3cr3t")
    assert sdk.verify_api_response_signature("folder/pid", 1700000000, response_signature("folder/pid", 1700000000, "s3cr3t"))
