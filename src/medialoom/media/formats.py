"""What a file is, from its first bytes. Pure: no decoders, names are never consulted."""

from __future__ import annotations

import re
from dataclasses import dataclass

SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Sniffed:
    resource_type: str  # image | video | raw
    format: str  # Cloudinary's name: jpg, png, mp4 ... ('' for raw)


MIME_TYPES = {
    "jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp", "avif": "image/avif",
    "heic": "image/heic", "tiff": "image/tiff", "bmp": "image/bmp", "ico": "image/x-icon",
    "svg": "image/svg+xml", "pdf": "application/pdf",
    "mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm", "mkv": "video/x-matroska",
    "avi": "video/x-msvideo", "ogv": "video/ogg", "ogg": "audio/ogg", "flv": "video/x-flv", "3gp": "video/3gpp",
    "mp3": "audio/mpeg", "wav": "audio/wav", "m4a": "audio/mp4", "flac": "audio/flac",
}

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_QUICKTIME_BRANDS = {b"qt  "}
_AUDIO_MP4_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_3GP_PREFIX = b"3g"
_SVG_ROOT = re.compile(rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:(?:<!--.*?-->|<!DOCTYPE[^>]*>|<\?[^>]*\?>)\s*)*<svg[\s>:]",
                       re.IGNORECASE | re.DOTALL)


def mime_type_for(format_: str) -> str:
    return MIME_TYPES.get(format_, "application/octet-stream")


def _ftyp(head: bytes) -> Sniffed | None:
    if head[4:8] != b"ftyp" or len(head) < 12:
        return None
    box_size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    brands = {major} | {head[i:i + 4] for i in range(16, min(box_size, len(head), 64), 4)}
    if major in _AVIF_BRANDS or (brands & _AVIF_BRANDS and not brands & {b"isom", b"mp42", b"mp41"}):
        return Sniffed("image", "avif")
    if major in _HEIF_BRANDS or brands & _HEIF_BRANDS and major not in (b"isom", b"mp42", b"mp41"):
        return Sniffed("image", "heic")
    if major in _QUICKTIME_BRANDS:
        return Sniffed("video", "mov")
    if major in _AUDIO_MP4_BRANDS:
        return Sniffed("video", "m4a")
    if major.startswith(_3GP_PREFIX):
        return Sniffed("video", "3gp")
    return Sniffed("video", "mp4")


def _ebml(head: bytes) -> Sniffed:
    # The DocType element (0x4282) says webm or matroska.
    position = head.find(b"\x42\x82")
    if position != -1 and b"webm" in head[position:position + 12]:
        return Sniffed("video", "webm")
    return Sniffed("video", "mkv")


def _looks_like_mp3(head: bytes) -> bool:
    if head.startswith(b"ID3"):
        return True
    # An MPEG audio frame header: 11 sync bits, a valid layer and bit-rate index.
    return (len(head) >= 4 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0
            and head[2] & 0xF0 not in (0x00, 0xF0) and head[2] & 0x0C != 0x0C)


def sniff(head: bytes) -> Sniffed:
    """Classify a file from its first bytes (at least a few KB for SVG)."""
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "jpg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", "gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "webp")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed("video", "avi")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Sniffed("video", "wav")
    found = _ftyp(head)
    if found:
        return found
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Sniffed("image", "tiff")
    if head[:2] == b"BM" and len(head) >= 26 and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124):
        return Sniffed("image", "bmp")
    if head[:4] == b"\x00\x00\x01\x00" and len(head) >= 22 and 0 < int.from_bytes(head[4:6], "little") < 256:
        return Sniffed("image", "ico")
    if head.startswith(b"%PDF-"):
        return Sniffed("image", "pdf")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _ebml(head)
    if head[:4] == b"OggS":
        return Sniffed("video", "ogv" if b"\x80theora" in head[:512] else "ogg")
    if head[:3] == b"FLV":
        return Sniffed("video", "flv")
    if head[:4] == b"fLaC":
        return Sniffed("video", "flac")
    if _looks_like_mp3(head):
        return Sniffed("video", "mp3")
    text = head.lstrip(b"\xef\xbb\xbf")
    if _SVG_ROOT.match(text[:SNIFF_BYTES]):
        return Sniffed("image", "svg")
    return Sniffed("raw", "")
