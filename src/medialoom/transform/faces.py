"""Where the faces are: the boxes ``g_face`` and ``g_faces`` keep in view.

Detection uses OpenCV's Viola-Jones cascade for frontal faces, whose weights (an XML file) ship
inside the ``opencv-python-headless`` wheel, so nothing is fetched at run time. The 5.x wheels
no longer carry the cascades, which is why the dependency stays below 5.

Detection runs on a greyscale copy shrunk so its longest side is at most ``DETECT_LONGEST_SIDE``
pixels: the cascade's cost grows with the pixel count and the number of scales it scans. The
price is that faces narrower than about 4 % of the longest side (24 px of 640) are missed,
which matters only for wide group shots. Boxes are scaled back to the coordinates of the image
given.

OpenCV is imported on the first detection only, so a server that never sees ``g_face`` never
loads it; without it, :class:`FacesUnavailable` says so.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyvips

__all__ = ["DETECT_LONGEST_SIDE", "Face", "FacesUnavailable", "detect_faces", "focus"]

DETECT_LONGEST_SIDE = 640
# The cascade's own window is 24x24; asking for less only adds noise.
MIN_FACE_SIDE = 24
# Each step of the scan enlarges the window by 10 %: finer steps find a few more faces at a
# noticeably higher cost, coarser ones miss faces between two sizes.
SCALE_FACTOR = 1.1
# A face must be found by this many overlapping windows; fewer lets textures (foliage,
# fabric, noise) through as faces.
MIN_NEIGHBORS = 5
# The cascade's score at its last stage. Faces seen here (the LFW crops bundled with
# scikit-image, the astronaut photo) scored 1.5 to 7.5; the false hits seen (on the astronaut's
# suit, on a coin) scored under 0.8, and in a ``g_faces`` union one of those would drag the
# crop off the people.
MIN_CONFIDENCE = 1.0
CASCADE_FILE = "haarcascade_frontalface_default.xml"


class FacesUnavailable(RuntimeError):
    """Face detection cannot run on this server (OpenCV or its cascade file is missing)."""


@dataclass(frozen=True)
class Face:
    """A box in pixels of the image it was found in (also used for the union of several faces)."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def area(self) -> int:
        return self.width * self.height


def detect_faces(image: pyvips.Image) -> list[Face]:
    """The frontal faces in ``image``, largest first (ties: top to bottom, then left to right)."""
    if image.width == 0 or image.height == 0:
        return []
    cv2 = _cv2()
    scale = min(1.0, DETECT_LONGEST_SIDE / max(image.width, image.height))
    grey = _small_grey(image, scale)
    if grey.width < MIN_FACE_SIDE or grey.height < MIN_FACE_SIDE:
        return []
    # One copy only: numpy() renders the libvips pipeline straight into the array's buffer.
    pixels = grey.numpy()
    # Equalising spreads the grey levels so dim or low-contrast faces reach the contrasts
    # the cascade was trained on.
    pixels = cv2.equalizeHist(pixels)
    boxes, _, weights = _classifier().detectMultiScale3(
        pixels, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS, minSize=(MIN_FACE_SIDE, MIN_FACE_SIDE),
        outputRejectLevels=True)
    faces = [_scaled_back(tuple(int(v) for v in box), scale, image.width, image.height)
             for box, weight in zip(boxes, _flat(weights), strict=True) if weight >= MIN_CONFIDENCE]
    # OpenCV scans in parallel and returns its groups in no fixed order: sort for determinism.
    faces.sort(key=lambda face: (-face.area, face.top, face.left, face.width, face.height))
    return faces


def focus(faces: list[Face], mode: str) -> Face | None:
    """The box to keep in view: the largest face for ``face``, all of them for ``faces``."""
    if mode not in ("face", "faces"):
        raise ValueError(f"unknown face gravity {mode!r}")
    if not faces:
        return None
    if mode == "face":
        # Chosen by size here too, so a list in any order (not only detect_faces') gives the same face.
        return min(faces, key=lambda face: (-face.area, face.top, face.left))
    left = min(face.left for face in faces)
    top = min(face.top for face in faces)
    right = max(face.right for face in faces)
    bottom = max(face.bottom for face in faces)
    return Face(left, top, right - left, bottom - top)


# -- helpers -------------------------------------------------------------------------------

def _small_grey(image: pyvips.Image, scale: float) -> pyvips.Image:
    """An 8-bit, one-band copy at ``scale``; shrinking first so the colour work runs on few pixels."""
    if image.hasalpha():
        image = image.extract_band(0, n=image.bands - 1)
    if scale < 1.0:
        # resize() box-shrinks by the integer part first, so a 12 MP source is read once, cheaply.
        image = image.resize(scale, kernel="linear")
    if image.interpretation not in ("b-w", "grey16") or image.bands != 1:
        image = image.colourspace("b-w")
    if image.format != "uchar":
        # 16-bit greys use the whole ushort range; anything else is taken as 0-255 already.
        image = (image / 256 if image.interpretation == "grey16" else image).cast("uchar")
    return image.extract_band(0) if image.bands > 1 else image


def _flat(weights: Any) -> list[float]:
    """OpenCV gives the scores as an N x 1 array, or an empty tuple when it found nothing."""
    import numpy  # present wherever OpenCV is: its wheels depend on it

    return [float(weight) for weight in numpy.ravel(weights)]


def _scaled_back(box: tuple[int, ...], scale: float, width: int, height: int) -> Face:
    x, y, w, h = box
    left = max(0, math.floor(x / scale))
    top = max(0, math.floor(y / scale))
    right = min(width, math.ceil((x + w) / scale))
    bottom = min(height, math.ceil((y + h) / scale))
    return Face(left, top, right - left, bottom - top)


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as error:
        raise FacesUnavailable("Face detection needs the opencv-python-headless package") from error
    return cv2


# A CascadeClassifier keeps per-image state while it detects, so one object must not serve two
# threads at once; each rendering thread loads its own (about 130 ms, once per thread).
_local = threading.local()


def _classifier() -> Any:
    classifier = getattr(_local, "classifier", None)
    if classifier is None:
        cv2 = _cv2()
        path = Path(getattr(getattr(cv2, "data", None), "haarcascades", "")) / CASCADE_FILE
        if not path.is_file():
            raise FacesUnavailable(f"OpenCV {cv2.__version__} ships no {CASCADE_FILE}; "
                                   "install opencv-python-headless 4.x")
        classifier = cv2.CascadeClassifier(str(path))
        if classifier.empty():
            raise FacesUnavailable(f"OpenCV could not load {path}")
        _local.classifier = classifier
    return classifier
