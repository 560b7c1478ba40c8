"""Face detection for g_face / g_faces: where the faces are, in the given image's pixels.

The photo is scikit-image's astronaut (Eileen Collins), a PNG shipped inside the scikit-image
wheel (the ``test`` extra): it is read from the installed package, never downloaded.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import pyvips

from medialoom.transform import faces as faces_module
from medialoom.transform.faces import Face, FacesUnavailable, detect_faces, focus


def astronaut() -> pyvips.Image:
    spec = importlib.util.find_spec("skimage")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("scikit-image is missing: install the test extra (pip install -e '.[test]')")
    path = Path(spec.submodule_search_locations[0]) / "data" / "astronaut.png"
    if not path.is_file():
        pytest.fail(f"{path} is not in this scikit-image wheel; the face tests need a bundled face photo")
    return pyvips.Image.new_from_file(str(path))


def centre(face: Face) -> tuple[float, float]:
    return face.left + face.width / 2, face.top + face.height / 2


def inside(face: Face, image: pyvips.Image) -> bool:
    return 0 <= face.left and 0 <= face.top and face.width > 0 and face.height > 0 and \
        face.right <= image.width and face.bottom <= image.height


def test_the_astronauts_face_is_found_where_it_is():
    image = astronaut()
    assert (image.width, image.height) == (512, 512)
    found = detect_faces(image)
    assert len(found) == 1
    face = found[0]
    assert inside(face, image)
    x, y = centre(face)
    # Her face is in the upper half, a little left of the middle (about x 225, y 113).
    assert 0.35 * image.width < x < 0.5 * image.width
    assert 0.12 * image.height < y < 0.32 * image.height
    assert 0.12 * image.width < face.width < 0.3 * image.width


def test_large_images_are_searched_small_and_boxes_scaled_back():
    small = detect_faces(astronaut())[0]
    image = astronaut().resize(2000 / 512)  # over DETECT_LONGEST_SIDE: detected on a shrunk copy
    assert image.width > faces_module.DETECT_LONGEST_SIDE
    found = detect_faces(image)
    assert len(found) == 1
    face = found[0]
    assert inside(face, image)
    ratio = image.width / 512
    # The same face, in the big image's pixels (a few source pixels of rounding either way).
    for big, expected in zip((face.left, face.top, face.width, face.height),
                             (small.left, small.top, small.width, small.height), strict=True):
        assert abs(big - expected * ratio) < 6 * ratio


def test_noise_has_no_faces():
    rng = numpy.random.default_rng(7)
    noise = pyvips.Image.new_from_array(rng.integers(0, 256, (480, 640, 3), dtype=numpy.uint8),
                                        interpretation="srgb")
    assert detect_faces(noise) == []
    flat = pyvips.Image.black(300, 200, bands=3).copy(interpretation="srgb") + 128
    assert detect_faces(flat.cast("uchar")) == []


def test_images_too_small_to_hold_a_face():
    assert detect_faces(astronaut().resize(16 / 512)) == []


def two_astronauts() -> pyvips.Image:
    """The photo beside a half-size mirror image of itself: two faces, the left one larger."""
    image = astronaut()
    return image.join(image.flip("horizontal").resize(0.5), "horizontal", expand=True, background=[0, 0, 0])


def test_several_faces_largest_first_and_their_focus():
    image = two_astronauts()
    found = detect_faces(image)
    assert len(found) == 2
    big, small = found
    assert big.area > small.area
    assert centre(big)[0] < 512 < centre(small)[0]
    assert all(inside(face, image) for face in found)

    assert focus(found, "face") == big
    union = focus(found, "faces")
    assert union == Face(big.left, min(big.top, small.top), small.right - big.left,
                         max(big.bottom, small.bottom) - min(big.top, small.top))
    assert inside(union, image)


def test_other_pixel_formats_find_the_same_face():
    image = astronaut()
    expected = centre(detect_faces(image)[0])
    variants = {
        "alpha": image.bandjoin(255),
        "grey": image.colourspace("b-w"),
        "grey with alpha": image.colourspace("b-w").bandjoin(255),
        "16-bit": image.colourspace("rgb16"),
        "cmyk": image.colourspace("cmyk"),
    }
    for name, variant in variants.items():
        found = detect_faces(variant)
        assert len(found) == 1, name
        x, y = centre(found[0])
        assert abs(x - expected[0]) < 8 and abs(y - expected[1]) < 8, name


def test_detection_is_deterministic():
    image = two_astronauts()
    assert detect_faces(image) == detect_faces(image) == detect_faces(image.copy_memory())


def test_focus_of_given_boxes():
    a = Face(10, 20, 30, 30)
    b = Face(100, 5, 50, 40)
    c = Face(60, 90, 10, 10)
    assert focus([a, b, c], "face") == b  # the largest, whatever the order given
    assert focus([a, b, c], "faces") == Face(10, 5, 140, 95)
    assert focus([a], "faces") == a
    assert focus([], "face") is None
    assert focus([], "faces") is None
    with pytest.raises(ValueError):
        focus([a], "auto")


def test_faces_unavailable_without_opencv(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes "import cv2" raise ImportError
    with pytest.raises(FacesUnavailable, match="opencv-python-headless"):
        detect_faces(astronaut())


def test_opencv_is_imported_only_when_faces_are_asked_for():
    code = ("import sys, medialoom.transform.faces, medialoom.transform.render; "
            "sys.exit('cv2' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
