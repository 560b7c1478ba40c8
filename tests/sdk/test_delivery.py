"""Transformation URLs built by the official Python SDK, fetched from a real server.

The source is a 300x400 PNG in three bands: red on top (rows 0-99), grey in the middle, blue at
the bottom (rows 300-399), so where a crop or a pad put things can be read from pixels.
"""

from __future__ import annotations

import cloudinary
import cloudinary.uploader
import cloudinary.utils
import httpx
import pytest
import pyvips

RED, GREY, BLUE, WHITE, BLACK, GREEN = (255, 0, 0), (128, 128, 128), (0, 0, 255), (255, 255, 255), (0, 0, 0), \
    (0, 128, 0)


@pytest.fixture(scope="module")
def bands(tmp_path_factory) -> str:
    red = pyvips.Image.black(300, 100).new_from_image(list(RED))
    grey = pyvips.Image.black(300, 200).new_from_image(list(GREY))
    blue = pyvips.Image.black(300, 100).new_from_image(list(BLUE))
    image = red.join(grey, "vertical").join(blue, "vertical").copy(interpretation="srgb").cast("uchar")
    path = tmp_path_factory.mktemp("delivery") / "bands.png"
    image.write_to_file(str(path))
    return str(path)


@pytest.fixture
def uploaded(bands, server) -> str:  # noqa: ARG001 - uploads into this server's environment
    return cloudinary.uploader.upload(bands, public_id="delivery/bands", overwrite=True)["public_id"]


def fetch(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, headers=headers, timeout=30)


def decoded(response: httpx.Response) -> pyvips.Image:
    assert response.status_code == 200, response.headers.get("x-cld-error")
    return pyvips.Image.new_from_buffer(response.content, "")


def pixel(image: pyvips.Image, x: float, y: float) -> tuple[int, ...]:
    """The colour at a fraction of the width and height."""
    values = image.getpoint(min(image.width - 1, int(x * image.width)), min(image.height - 1, int(y * image.height)))
    return tuple(int(v) for v in values)


def near(actual: tuple[int, ...], expected: tuple[int | None, ...], tolerance: int = 40) -> bool:
    """Each channel within ``tolerance``; ``None`` matches anything (say, the colour of a
    transparent pixel)."""
    return all(e is None or abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


# (SDK options, expected width x height, expected format, [(x, y, colour)])
CASES = [
    ({"width": 150, "crop": "scale"}, (150, 200), "png", [(0.5, 0.05, RED), (0.5, 0.95, BLUE)]),
    ({"height": 100}, (75, 100), "png", [(0.5, 0.5, GREY)]),
    ({"width": 100, "height": 100, "crop": "scale"}, (100, 100), "png", [(0.5, 0.1, RED)]),
    ({"width": 0.5, "crop": "scale"}, (150, 200), "png", []),
    ({"width": 100, "height": 100, "crop": "fit"}, (75, 100), "png", [(0.5, 0.05, RED)]),
    ({"width": 1000, "height": 1000, "crop": "limit"}, (300, 400), "png", []),
    ({"width": 150, "height": 150, "crop": "limit"}, (112, 150), "png", []),
    ({"width": 600, "height": 600, "crop": "mfit"}, (450, 600), "png", []),
    ({"width": 100, "height": 100, "crop": "fill"}, (100, 100), "png", [(0.5, 0.5, GREY)]),
    ({"width": 100, "height": 100, "crop": "fill", "gravity": "north"}, (100, 100), "png",
     [(0.5, 0.05, RED), (0.5, 0.9, GREY)]),
    ({"width": 100, "height": 100, "crop": "fill", "gravity": "south"}, (100, 100), "png",
     [(0.5, 0.95, BLUE), (0.5, 0.1, GREY)]),
    ({"width": 120, "height": 40, "crop": "fill", "gravity": "auto"}, (120, 40), "png", []),
    ({"width": 1000, "height": 1000, "crop": "lfill"}, (300, 300), "png", []),
    ({"width": 100, "height": 100, "crop": "thumb", "gravity": "north"}, (100, 100), "png", [(0.5, 0.05, RED)]),
    ({"width": 200, "height": 200, "crop": "pad", "background": "green"}, (200, 200), "png",
     [(0.05, 0.5, GREEN), (0.5, 0.05, RED)]),
    ({"width": 200, "height": 200, "crop": "pad", "background": "#00ff00", "gravity": "west"}, (200, 200), "png",
     [(0.05, 0.5, GREY), (0.95, 0.5, (0, 255, 0))]),
    ({"width": 600, "height": 600, "crop": "lpad", "background": "black"}, (600, 600), "png",
     [(0.1, 0.5, BLACK), (0.5, 0.5, GREY)]),
    # b_auto takes the commonest colour of the border (red and blue rows tie at top and bottom, red
    # wins as it comes first) or of the whole image (grey); its _contrast modes the opposite
    # colour, or black for a mid-grey whose opposite is itself.
    ({"width": 600, "height": 400, "crop": "pad", "background": "auto"}, (600, 400), "png",
     [(0.05, 0.5, RED), (0.5, 0.5, GREY)]),
    ({"width": 600, "height": 400, "crop": "pad", "background": "auto:predominant"}, (600, 400), "png",
     [(0.05, 0.5, GREY), (0.5, 0.1, RED)]),
    ({"width": 600, "height": 400, "crop": "pad", "background": "auto:predominant_contrast"}, (600, 400), "png",
     [(0.05, 0.5, BLACK)]),
    ({"width": 600, "height": 400, "crop": "lpad", "background": "auto:border_contrast"}, (600, 400), "png",
     [(0.05, 0.5, (0, 255, 255))]),
    # b_blurred: the image enlarged to cover the canvas (its middle is grey), blurred, darkened.
    ({"width": 600, "height": 400, "crop": "pad", "background": "blurred"}, (600, 400), "png",
     [(0.02, 0.5, GREY), (0.5, 0.1, RED), (0.5, 0.9, BLUE)]),
    ({"width": 600, "height": 400, "crop": "pad", "background": "blurred:400:-100",
      "format": "jpg"}, (600, 400), "jpg",
     [(0.02, 0.5, BLACK), (0.5, 0.1, RED)]),
    ({"width": 100, "height": 50, "crop": "crop", "gravity": "north"}, (100, 50), "png", [(0.5, 0.5, RED)]),
    ({"width": 100, "height": 50, "crop": "crop", "gravity": "south_east"}, (100, 50), "png", [(0.5, 0.5, BLUE)]),
    ({"width": 50, "height": 50, "crop": "crop", "x": 10, "y": 320}, (50, 50), "png", [(0.5, 0.5, BLUE)]),
    ({"aspect_ratio": "1:1", "crop": "fill", "width": 90}, (90, 90), "png", []),
    ({"aspect_ratio": "16:9", "crop": "crop"}, (300, 169), "png", [(0.5, 0.5, GREY)]),
    ({"width": 100, "dpr": 2.0, "crop": "scale"}, (200, 267), "png", []),
    ({"width": 100, "fetch_format": "webp", "crop": "scale"}, (100, 133), "webp", []),
    ({"width": 100, "format": "jpg", "crop": "scale"}, (100, 133), "jpg", [(0.5, 0.05, RED)]),
    ({"width": 100, "format": "avif", "crop": "scale"}, (100, 133), "avif", []),
    ({"width": 100, "format": "gif", "crop": "scale"}, (100, 133), "gif", []),
    # libvips' grey is CIE lightness: pure red is L* 53.
    ({"effect": "grayscale", "width": 100, "crop": "scale"}, (100, 133), "png", [(0.5, 0.05, (136, 136, 136))]),
    ({"effect": "negate", "width": 100, "crop": "scale"}, (100, 133), "png", [(0.5, 0.05, (0, 255, 255))]),
    ({"effect": "sepia", "width": 100, "crop": "scale"}, (100, 133), "png", []),
    ({"effect": "blur:300", "width": 100, "crop": "scale"}, (100, 133), "png", [(0.5, 0.5, GREY)]),
    ({"effect": "sharpen", "width": 100, "crop": "scale"}, (100, 133), "png", []),
    ({"effect": "brightness:50", "width": 100, "crop": "scale"}, (100, 133), "png", [(0.5, 0.5, (192, 192, 192))]),
    ({"effect": "pixelate:10"}, (300, 400), "png", [(0.5, 0.05, RED)]),
    ({"effect": "blackwhite"}, (300, 400), "png", [(0.5, 0.05, BLACK), (0.5, 0.5, WHITE)]),
    ({"effect": "oil_paint:60"}, (300, 400), "png", [(0.5, 0.05, RED), (0.5, 0.5, GREY), (0.5, 0.95, BLUE)]),
    ({"angle": 90}, (400, 300), "png", [(0.05, 0.5, BLUE), (0.95, 0.5, RED)]),
    ({"angle": "vflip"}, (300, 400), "png", [(0.5, 0.05, BLUE)]),
    ({"angle": 45, "width": 100, "crop": "scale"}, None, "png", []),
    ({"radius": "max", "width": 100, "height": 100, "crop": "fill"}, (100, 100), "png",
     [(0.01, 0.01, (None, None, None, 0)), (0.5, 0.5, GREY)]),
    ({"radius": 20, "width": 100, "crop": "scale"}, (100, 133), "png", [(0.0, 0.0, (None, None, None, 0))]),
    ({"border": "5px_solid_green", "width": 100, "crop": "scale"}, (110, 143), "png", [(0.0, 0.5, GREEN)]),
    ({"opacity": 50, "width": 100, "crop": "scale"}, (100, 133), "png", [(0.5, 0.5, (128, 128, 128, 127))]),
    ({"transformation": [{"width": 200, "crop": "scale"}, {"width": 100, "height": 100, "crop": "crop",
                                                            "gravity": "north"}]}, (100, 100), "png",
     [(0.5, 0.5, RED)]),
    ({"quality": 30, "format": "jpg", "width": 100, "crop": "scale"}, (100, 133), "jpg", []),
    ({"quality": "auto", "format": "jpg"}, (300, 400), "jpg", []),
    ({"overlay": {"font_family": "Arial", "font_size": 60, "font_weight": "bold", "text": "Hi"}, "color": "white",
      "gravity": "center"}, (300, 400), "png", [(0.5, 0.05, RED), (0.5, 0.95, BLUE)]),
]


@pytest.mark.parametrize(("options", "size", "format_", "pixels"), CASES,
                         ids=[cloudinary.utils.generate_transformation_string(**dict(c[0]))[0] or "none"
                              for c in CASES])
def test_sdk_url_renders(uploaded, options, size, format_, pixels):
    options = dict(options)
    format_option = options.pop("format", "png")
    url = cloudinary.utils.cloudinary_url(uploaded, format=format_option, **options)[0]
    response = fetch(url)
    image = decoded(response)
    assert response.headers["content-type"] == f"image/{'jpeg' if format_ == 'jpg' else format_}"
    if size is not None:
        assert (image.width, image.height) == size
    for x, y, colour in pixels:
        assert near(pixel(image, x, y), colour), (x, y, pixel(image, x, y), colour)


def test_text_layer_changes_where_it_sits(uploaded):
    plain = decoded(fetch(cloudinary.utils.cloudinary_url(uploaded, format="png")[0]))
    url = cloudinary.utils.cloudinary_url(uploaded, format="png", overlay={
        "font_family": "Arial", "font_size": 80, "font_weight": "bold", "text": "MMMM"}, color="white",
        gravity="center")[0]
    texted = decoded(fetch(url))
    plain_mean = plain.crop(0, 150, 300, 100).avg()
    texted_mean = texted.crop(0, 150, 300, 100).avg()
    assert texted_mean > plain_mean + 5, (plain_mean, texted_mean)
    assert texted.crop(0, 0, 300, 50).avg() == pytest.approx(plain.crop(0, 0, 300, 50).avg(), abs=1)


def test_image_layer_is_placed_by_layer_apply(uploaded, files):
    cloudinary.uploader.upload(str(files["png"]), public_id="delivery/logo", overwrite=True)
    url = cloudinary.utils.cloudinary_url(uploaded, format="png", transformation=[
        {"overlay": "delivery:logo", "width": 60, "crop": "scale"},
        {"flags": "layer_apply", "gravity": "south_east", "x": 0, "y": 0}])[0]
    assert "l_delivery:logo" in url
    image = decoded(fetch(url))
    assert (image.width, image.height) == (300, 400)
    assert not near(pixel(image, 0.95, 0.99), BLUE, 10)  # the logo covers the bottom-right corner
    assert near(pixel(image, 0.05, 0.99), BLUE)


def test_derived_file_is_cached_and_versioned_urls_are_immutable(uploaded, server):
    url = cloudinary.utils.cloudinary_url(uploaded, format="jpg", width=77, crop="scale", version=1)[0]
    first = fetch(url)
    second = fetch(url)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]
    assert "immutable" in first.headers["cache-control"]
    assert fetch(url, **{"If-None-Match": first.headers["etag"]}).status_code == 304
    head = httpx.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(first.content))
    ranged = fetch(url, Range="bytes=0-9")
    assert ranged.status_code == 206 and ranged.content == first.content[:10]
    derived = list((server.data_dir / "blobs").rglob("*.jpg"))
    assert derived, "derived files are stored"


def test_overwrite_and_destroy_remove_derived_files(bands, files, server):
    public_id = cloudinary.uploader.upload(bands, public_id="delivery/short_lived")["public_id"]
    url = cloudinary.utils.cloudinary_url(public_id, format="png", width=33, crop="scale")[0]
    assert decoded(fetch(url)).width == 33
    blobs = server.data_dir / "blobs"
    before = {p for p in blobs.rglob("*") if p.is_file() and "/derived/" in str(p)}
    cloudinary.uploader.upload(str(files["png"]), public_id=public_id, overwrite=True)
    after_overwrite = {p for p in blobs.rglob("*") if p.is_file() and "/derived/" in str(p)}
    assert before - after_overwrite, "the old version's derived files went"
    assert decoded(fetch(url)).height == round(33 * 51 / 241)  # the new version, rendered anew
    cloudinary.uploader.destroy(public_id)
    remaining = {p for p in blobs.rglob("*") if p.is_file() and "/derived/" in str(p)}
    assert not {p for p in remaining if p not in before and p not in after_overwrite}
    assert fetch(url).status_code == 404


def test_f_auto_follows_accept_and_varies(uploaded):
    url = cloudinary.utils.cloudinary_url(uploaded, fetch_format="auto", width=50, crop="scale")[0]
    avif = fetch(url, Accept="image/avif,image/webp,*/*")
    webp = fetch(url, Accept="image/webp,*/*")
    plain = fetch(url, Accept="*/*")
    assert avif.headers["content-type"] == "image/avif"
    assert webp.headers["content-type"] == "image/webp"
    assert plain.headers["content-type"] == "image/png"  # the original's format
    assert all("Accept" in r.headers.get("vary", "") for r in (avif, webp, plain))


def test_q_auto_honours_save_data(uploaded):
    url = cloudinary.utils.cloudinary_url(uploaded, format="jpg", quality="auto")[0]
    normal, saving = fetch(url), fetch(url, **{"Save-Data": "on"})
    assert len(saving.content) < len(normal.content)


@pytest.mark.parametrize(("transformation", "names"), [
    ("w_abc", "w_abc"),
    ("xx_1", "xx_1"),
    ("c_bogus,w_10", "c_bogus"),
    ("w_100000", "w_100000"),
    ("b_auto,w_100", "b_auto"),
    ("b_blurred:400,c_fill,w_100,h_100", "b_blurred"),
    ("l_fetch:aHR0cDovL2V4YW1wbGUuY29tL2EucG5n/fl_layer_apply", "l_fetch"),
    ("t_missing", "missing"),
    ("vc_h264", "vc_h264"),
    ("if_w_gt_100,w_10", "if_"),
    ("c_fill,w_9000,h_9000", "megapixels"),
])
def test_unsupported_or_malformed_transformations_are_400_naming_the_parameter(uploaded, server, transformation,
                                                                               names):
    response = fetch(f"{server.base_url}/{server.cloud_name}/image/upload/{transformation}/v1/{uploaded}.png")
    assert response.status_code == 400
    assert names in response.headers["x-cld-error"]


@pytest.fixture(scope="module")
def dull(tmp_path_factory) -> str:
    """A low-contrast image with a warm cast: left half (100, 100, 100), right (150, 120, 110)."""
    left = pyvips.Image.black(100, 100).new_from_image([100, 100, 100])
    right = pyvips.Image.black(100, 100).new_from_image([150, 120, 110])
    path = tmp_path_factory.mktemp("delivery") / "dull.png"
    left.join(right, "horizontal").copy(interpretation="srgb").cast("uchar").write_to_file(str(path))
    return str(path)


@pytest.mark.parametrize(("effect", "left", "right"), [
    # Lightness stretched: the darker half goes to black, the lighter one to white, hue kept.
    ("auto_contrast", BLACK, (255, 249, 238)),
    # Each channel stretched on its own: the cast goes, both halves end at the extremes.
    ("auto_color", BLACK, WHITE),
    # The mean lightness moved to mid-grey: both halves lighter by the same amount.
    ("auto_brightness", (114, 114, 114), (164, 134, 124)),
    # Half strength: halfway between the original and the full stretch.
    ("auto_color:50", (50, 50, 50), (202, 187, 182)),
])
def test_automatic_levels_brighten_and_stretch_a_dull_image(dull, server, effect, left, right):  # noqa: ARG001
    public_id = cloudinary.uploader.upload(dull, public_id="delivery/dull", overwrite=True)["public_id"]
    image = decoded(fetch(cloudinary.utils.cloudinary_url(public_id, format="png", effect=effect)[0]))
    assert near(pixel(image, 0.25, 0.5), left, 12), pixel(image, 0.25, 0.5)
    assert near(pixel(image, 0.75, 0.5), right, 12), pixel(image, 0.75, 0.5)


def test_signed_transformation_urls_are_enforced(bands, server):
    public_id = cloudinary.uploader.upload(bands, type="private", public_id="delivery/private")["public_id"]
    signed = cloudinary.utils.cloudinary_url(public_id, type="private", sign_url=True, format="jpg", width=40,
                                             crop="scale")[0]
    assert decoded(fetch(signed)).width == 40
    tampered = signed.replace("w_40", "w_41")
    assert fetch(tampered).status_code == 401
    unsigned = cloudinary.utils.cloudinary_url(public_id, type="private", format="jpg", width=40, crop="scale")[0]
    assert fetch(unsigned).status_code == 401


def test_exif_is_stripped_from_derived_images(tmp_path, server):  # noqa: ARG001
    image = pyvips.Image.black(64, 64).new_from_image([10, 200, 30]).copy(interpretation="srgb").cast("uchar")
    image = image.copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "Secret Person (Secret Person, ASCII, 14 components)")
    path = tmp_path / "exif.jpg"
    image.write_to_file(str(path))
    assert b"Secret Person" in path.read_bytes()
    public_id = cloudinary.uploader.upload(str(path), public_id="delivery/exif", overwrite=True)["public_id"]
    derived = fetch(cloudinary.utils.cloudinary_url(public_id, format="jpg", width=32, crop="scale")[0])
    assert derived.status_code == 200 and b"Secret Person" not in derived.content
    kept = fetch(cloudinary.utils.cloudinary_url(public_id, format="jpg", width=31, crop="scale",
                                                 flags="keep_iptc")[0])
    assert kept.status_code == 200


def test_g_face_keeps_the_face_in_the_cut(tmp_path):
    from tests.unit.test_faces import astronaut

    from medialoom.transform.faces import detect_faces

    path = tmp_path / "astronaut.png"
    photo = astronaut()
    photo.write_to_file(str(path))
    face = detect_faces(photo)[0]
    public_id = cloudinary.uploader.upload(str(path), public_id="delivery/astronaut", overwrite=True)["public_id"]
    url = cloudinary.utils.cloudinary_url(public_id, format="png", width=120, height=120, crop="crop",
                                          gravity="face")[0]
    cut = decoded(fetch(url))
    assert (cut.width, cut.height) == (120, 120)
    # The same square cut around the detected face, made here: the pixels agree.
    left = min(max(round(face.left + face.width / 2 - 60), 0), photo.width - 120)
    top = min(max(round(face.top + face.height / 2 - 60), 0), photo.height - 120)
    expected = photo.crop(left, top, 120, 120)
    assert (cut[:3] - expected[:3]).abs().avg() < 2
    centred = decoded(fetch(cloudinary.utils.cloudinary_url(public_id, format="png", width=120, height=120,
                                                            crop="crop", gravity="center")[0]))
    assert (centred[:3] - expected[:3]).abs().avg() > 10
    faces = decoded(fetch(cloudinary.utils.cloudinary_url(public_id, format="png", width=200, height=100,
                                                          crop="fill", gravity="faces")[0]))
    assert (faces.width, faces.height) == (200, 100)


def test_video_thumbnails_take_the_frame_at_the_offset(tmp_path):
    from tests.unit.test_video_frames import make_video

    path = tmp_path / "clip.mp4"
    path.write_bytes(make_video())  # one second each of red, blue, green
    public_id = cloudinary.uploader.upload(str(path), resource_type="video", public_id="delivery/clip",
                                           overwrite=True)["public_id"]
    second = cloudinary.utils.cloudinary_url(public_id, resource_type="video", format="jpg", start_offset=1.5,
                                             width=32, crop="scale")[0]
    assert "so_1.5" in second
    image = decoded(fetch(second))
    assert (image.width, image.height) == (32, 24) and near(pixel(image, 0.5, 0.5), BLUE, 60)
    first = decoded(fetch(cloudinary.utils.cloudinary_url(public_id, resource_type="video", format="png",
                                                          start_offset="10p")[0]))
    assert near(pixel(first, 0.5, 0.5), RED, 60)
    middle = decoded(fetch(cloudinary.utils.cloudinary_url(public_id, resource_type="video", format="png")[0]))
    assert near(pixel(middle, 0.5, 0.5), BLUE, 60)
    bad = fetch(cloudinary.utils.cloudinary_url(public_id, resource_type="video", format="jpg",
                                                start_offset="soon")[0])
    assert bad.status_code == 400 and "so_" in bad.headers["x-cld-error"]
    transcode = fetch(cloudinary.utils.cloudinary_url(public_id, resource_type="video", format="mp4", width=32,
                                                      crop="scale")[0])
    assert transcode.status_code == 400 and "still frames" in transcode.headers["x-cld-error"]


def test_shortened_and_root_path_urls(uploaded):
    for options in ({"shorten": True}, {"use_root_path": True}):
        url = cloudinary.utils.cloudinary_url(uploaded, format="png", width=50, crop="scale", **options)[0]
        assert ("/iu/" in url) if "shorten" in options else ("/image/upload/" not in url)
        image = decoded(fetch(url))
        assert (image.width, image.height) == (50, 67)
    original = cloudinary.utils.cloudinary_url(uploaded, format="png", use_root_path=True)[0]
    assert decoded(fetch(original)).width == 300
