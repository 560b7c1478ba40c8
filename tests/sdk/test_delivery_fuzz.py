"""Nothing a client can put in a delivery URL makes the server answer 500.

Hypothesis builds delivery paths from the grammar's own tables (tests/unit/test_transform_fuzz.py)
around an uploaded image: transformation chains, signatures real and fake, versions, public ids
with ``..``, doubled slashes and ``%2F``, long names and odd extensions, and sends them as they
are (a raw request line, so no client library tidies ``..`` or escapes away). Every answer must be
below 500, and every 400 must say why in ``x-cld-error``.

Request targets stay valid HTTP (printable ASCII; anything else percent-encoded, as a browser
sends it): raw bytes above 0x7f in the request line are refused by uvicorn's HTTP parser before
the application sees them.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import socket
import string
from urllib.parse import urlsplit

import cloudinary.api
import cloudinary.exceptions
import cloudinary.uploader
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sdk.test_delivery import bands  # noqa: F401 - a fixture used here
from tests.server import RunningServer
from tests.unit.test_transform_fuzz import transformations

PUBLIC_ID = "fuzz/bands"
# Layers name the uploaded image, an image that does not exist, or a folder-shaped id.
LAYER_IDS = ("fuzz:bands", "fuzz:missing", "bands")
NAMED = ("fuzz_small", "fuzz_missing")  # t_ names: one defined on the server, one not

# Characters sent as they are; everything else is percent-encoded as UTF-8. "%" stays raw: the
# strategies' own escapes (%2C, %252F, %ZZ) must reach the server unchanged.
_RAW = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%")


def _wire(text: str) -> str:
    return "".join(ch if ch in _RAW else "".join(f"%{b:02X}" for b in ch.encode()) for ch in text)


_SIGNATURE_CHARS = string.ascii_letters + string.digits + "_-"
forged_signatures = st.one_of(
    st.text(_SIGNATURE_CHARS, min_size=8, max_size=8).map(lambda s: f"s--{s}--/"),
    st.text(_SIGNATURE_CHARS, min_size=32, max_size=32).map(lambda s: f"s--{s}--/"),
    st.sampled_from(["s----/", "s--/", "s--abc--/", "s--%2F%2F%2F%2F%2F%2F%2F%2F--/"]),
)
odd_versions = st.integers(0, 10 ** 30).map(lambda n: f"v{n}/") | st.sampled_from(["v/", "v-1/", "V1/", "v1a/",
                                                                                     "v1//", ""])
odd_public_ids = st.one_of(
    st.sampled_from(["fuzz//bands", "fuzz/../fuzz/bands", "../fuzz/bands", "fuzz/./bands", "fuzz%2Fbands",
                     "fuzz%252Fbands", "%2e%2e/fuzz/bands", "fuzz/bands/", "/fuzz/bands", "fuzz/bands%00", "fuzz",
                     "..", ".", "", "fuzz\\bands", "fuzz/bands/..", "FUZZ/BANDS", "fuzz/bands;x", "fuzz/bands@1",
                     "bands", "private/bands"]),
    st.integers(200, 6000).map(lambda n: "x" * n),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
)
extensions = st.sampled_from(["", ".png", ".jpg", ".webp"])
odd_extensions = st.sampled_from([".JPG", ".jpeg", ".jpe", ".avif", ".gif", ".PnG", ".tiff", ".tif", ".svg", ".pdf",
                                  ".bmp", ".heic", ".ico", ".mp4", ".json", ".exe", ".", "..", ".png.png", ".%00",
                                  ".%2Fpng", ".p%6Eg", ".png%20", ".x" * 50])
odd_queries = st.sampled_from(["?_a=", "?a=1&a=2", "?%ZZ", "?__cld_token__=st=1~exp=2~hmac=00", "?" + "q" * 3000])
# Another resource type or delivery type than image/upload.
odd_kinds = st.sampled_from(["image/private", "image/authenticated", "video/upload", "raw/upload", "images/upload",
                             "image/fetch", "video/private"])
# What a path may get wrong; most examples get nothing wrong, so that the transformation is
# what reaches the renderer.
ODDITIES = ("kind", "signature", "signed", "version", "public_id", "extension", "slashes", "query")

# Request headers delivery reads: Accept (f_auto), Save-Data (q_auto), client hints (dpr_auto).
# A DPR of "nan" is left out: it is a known 500 (test_regression_dpr_hint_nan_is_not_a_500).
request_headers = st.dictionaries(
    st.sampled_from(["Accept", "Save-Data", "DPR", "Sec-CH-DPR"]),
    st.sampled_from(["", "*/*", "image/avif,image/webp,*/*", "image/webp", "on", "off", "1", "2.5", "0", "-1", "inf",
                     "1e999", "abc", "3,4"]),
    max_size=3)


def _signature(to_sign: str, secret: str) -> str:
    """Cloudinary's short URL signature: base64url of SHA-1 over the signed part and the secret."""
    return base64.urlsafe_b64encode(hashlib.sha1((to_sign + secret).encode()).digest()).decode()[:8]


@st.composite
def delivery_targets(draw, secret: str) -> str:
    """The path (and query) of a delivery URL after ``/{cloud}/``, percent-encoded for the wire."""
    count = draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2, 3]))
    odd = draw(st.sets(st.sampled_from(ODDITIES), min_size=count, max_size=count))
    chain = draw(st.sampled_from(["", "clean", "clean", "clean", "noisy", "noisy"]).flatmap(
        lambda kind: st.just("") if not kind else transformations(cheap=True, noise=kind == "noisy",
                                                                   layer_ids=LAYER_IDS, named=NAMED)))
    kind = draw(odd_kinds) if "kind" in odd else "image/upload"
    source = (draw(odd_public_ids) if "public_id" in odd else PUBLIC_ID) + draw(
        odd_extensions if "extension" in odd else extensions)
    version = draw(odd_versions) if "version" in odd else draw(st.sampled_from(["v1/", ""]))
    slash = "//" if "slashes" in odd else "/"
    signature = ""
    if "signed" in odd:  # right, for a private asset's sake
        signature = f"s--{_signature(_wire(chain + '/' + source if chain else source), secret)}--/"
    elif "signature" in odd:
        signature = draw(forged_signatures)
    path = _wire(f"{kind}/{signature}" + (chain + slash if chain else "") + version + source)
    return path + (draw(odd_queries) if "query" in odd else "")


def get_raw(server: RunningServer, target: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """GET exactly this request target: no client normalizes it on the way."""
    address = urlsplit(server.base_url)
    lines = [f"GET {target} HTTP/1.1", f"Host: {address.netloc}", "Connection: close",
             *(f"{name}: {value}" for name, value in {"Accept": "*/*", **(headers or {})}.items()), "", ""]
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall("\r\n".join(lines).encode("ascii"))
        response = http.client.HTTPResponse(sock)
        response.begin()
        response.read()
        return response


@pytest.fixture(scope="module")
def fuzz_asset(server, bands) -> None:  # noqa: F811 - bands is the imported fixture
    account = {"cloud_name": server.cloud_name, "api_key": server.api_key, "api_secret": server.api_secret,
               "upload_prefix": server.base_url}
    cloudinary.uploader.upload(bands, public_id=PUBLIC_ID, overwrite=True, **account)
    cloudinary.uploader.upload(bands, public_id="bands", overwrite=True, **account)
    cloudinary.uploader.upload(bands, public_id=PUBLIC_ID, type="private", overwrite=True, **account)
    try:
        cloudinary.api.create_transformation(NAMED[0], "c_scale,w_50", **account)
    except cloudinary.exceptions.BadRequest:  # defined already: the module ran on this server before
        pass


def test_fuzz_setup_reaches_the_image(server, fuzz_asset):  # noqa: ARG001
    """The fuzzed paths are built around a URL that works; otherwise every answer is a 404."""
    response = get_raw(server, f"/{server.cloud_name}/image/upload/c_scale,w_10/v1/{PUBLIC_ID}.png?_a=x")
    assert response.status == 200, response.getheader("x-cld-error")
    assert response.getheader("content-type") == "image/png"


# The server and the uploaded image serve every example; the function-scoped SDK configuration
# fixture (conftest.py) changes nothing between them.
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), headers=request_headers)
def test_no_delivery_url_answers_500(server, fuzz_asset, data, headers):  # noqa: ARG001
    target = data.draw(delivery_targets(server.api_secret), label="target")
    full = f"/{server.cloud_name}/{target}"
    response = get_raw(server, full, headers)
    assert response.status < 500, f"{response.status} for {full} with {headers}\n{server.log()}"
    if response.status == 400:
        assert response.getheader("x-cld-error"), f"400 without x-cld-error for {full} with {headers}"


# -- regressions the fuzzing found ------------------------------------------------------------
# Each input below once gave a 500 (or no answer); all are fixed and stay here as regressions.

# Was a 500 on PostgreSQL (NUL is no valid text there); fixed in delivery/route.py.
@pytest.mark.parametrize("path", ["image/upload/fuzz/bands.%00", "image/upload/w_10/v1/fuzz%00",
                                  "image/upload/%00", "image/private/s--abcdefgh--/fuzz/bands%00.png"])
def test_regression_nul_in_public_id_is_not_a_500(server, fuzz_asset, path):  # noqa: ARG001
    response = get_raw(server, f"/{server.cloud_name}/{path}")
    assert 400 <= response.status < 500, f"{response.status} for {path}"
    assert response.getheader("x-cld-error")


# Were a 500 (beyond latin-1) or no answer at all (control characters in a header).
@pytest.mark.parametrize("cloud", ["%E2%9C%93", "medialoom-test%00", "a%0D%0AX-Injected:%201", "a%7F"])
def test_regression_odd_cloud_name_is_a_404_naming_it(server, fuzz_asset, cloud):  # noqa: ARG001
    response = get_raw(server, f"/{cloud}/image/upload/w_10/v1/fuzz/bands.png")
    assert response.status == 404
    assert response.getheader("x-cld-error", "").startswith("Invalid cloud_name")
    assert response.getheader("x-injected") is None


# Was a 500: NaN passed the clamp and reached the geometry.
@pytest.mark.parametrize("header", ["DPR", "Sec-CH-DPR"])
def test_regression_dpr_hint_nan_is_not_a_500(server, fuzz_asset, header):  # noqa: ARG001
    response = get_raw(server, f"/{server.cloud_name}/image/upload/dpr_auto,w_100/v1/{PUBLIC_ID}.png",
                       {header: "nan"})
    assert response.status < 500
    if response.status == 200:
        assert response.getheader("content-type") == "image/png"


def test_regression_opacity_on_a_grey_image_renders(server, fuzz_asset):  # noqa: ARG001
    # e_blackwhite leaves one grey band (two with alpha): o_ took "band 3" as the alpha.
    response = get_raw(server, f"/{server.cloud_name}/image/upload/e_blackwhite,o_0/v1/{PUBLIC_ID}.png")
    assert response.status == 200
    assert response.getheader("content-type") == "image/png"


def test_wrong_cloud_and_resource_kinds_are_404_not_500(server, fuzz_asset):  # noqa: ARG001
    for path in ("/no-such-cloud/image/upload/w_10/v1/fuzz/bands.png", f"/{server.cloud_name}/images/upload/x",
                 f"/{server.cloud_name}/image/upload/", f"/{server.cloud_name}/image/upload/%2e%2e"):
        response = httpx.get(server.base_url + path, timeout=30)
        assert response.status_code == 404, path
        assert response.headers.get("x-cld-error"), path
