"""Public ids, folders and display names: validation and the rules that derive them.

Pure. A public id is a user-chosen path such as ``products/shoes/red``; it names an asset
inside one product environment and never reaches the file system (blob keys come from ids),
but it appears in URLs, so characters that would change a URL's meaning are refused, and
so is anything that looks like directory traversal in any encoding.
"""

from __future__ import annotations

import secrets
import string
import unicodedata
from dataclasses import dataclass

from medialoom.errors import BadRequest

MAX_PUBLIC_ID_LENGTH = 255 * 4  # generous: Cloudinary documents 255 characters per segment
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
# Reserved in URLs or used for encodings; Cloudinary refuses the same set in public ids.
_FORBIDDEN = set("?&#\\%<>") | {chr(code) for code in range(32)} | {"\x7f"}


def random_suffix(length: int = 6) -> str:
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(length))


def random_public_id() -> str:
    return random_suffix(20)


def _check_path(value: str, what: str, *, allow_empty: bool) -> str:
    if value == "":
        if allow_empty:
            return value
        raise BadRequest(f"{what} must not be empty")
    if len(value) > MAX_PUBLIC_ID_LENGTH:
        raise BadRequest(f"{what} is too long (maximum is {MAX_PUBLIC_ID_LENGTH} characters)")
    bad = sorted({char for char in value if char in _FORBIDDEN})
    if bad:
        shown = ", ".join(repr(char) for char in bad)
        raise BadRequest(f"{what} {value!r} contains characters that are not allowed: {shown}")
    # Fullwidth dots and slashes (U+FF0E, U+FF0F) and similar normalise to '.' and '/'.
    normalized = unicodedata.normalize("NFKC", value)
    if normalized.startswith("/") or value.startswith("/"):
        raise BadRequest(f"{what} {value!r} must not start with '/'")
    for segment in normalized.split("/"):
        if segment in (".", ".."):
            raise BadRequest(f"{what} {value!r} must not contain '.' or '..' path segments")
        if segment == "":
            raise BadRequest(f"{what} {value!r} must not contain empty path segments")
        if segment != segment.strip():
            raise BadRequest(f"{what} {value!r} must not have path segments that start or end with spaces")
    return value


def validate_public_id(value: str) -> str:
    return _check_path(value, "Public ID", allow_empty=False)


def normalize_folder(value: str | None, what: str = "Folder") -> str:
    """``/a/b/`` and ``a/b`` name the same folder; the root is ''."""
    if not value:
        return ""
    trimmed = value.strip().strip("/")
    return _check_path(trimmed, what, allow_empty=True)


def filename_stem(filename: str | None) -> str:
    """The file name a client sent, without directories or extension ('' when unusable)."""
    if not filename:
        return ""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    return stem


def extension_of(filename: str | None) -> str:
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base.lstrip("."):
        return ""
    return base.rsplit(".", 1)[1].lower()


def sanitize_stem(stem: str) -> str:
    """Make a file name usable as a public id segment: forbidden characters become '_'."""
    cleaned = "".join("_" if char in _FORBIDDEN or char == "/" else char for char in stem).strip()
    cleaned = cleaned.strip(".") or ""
    return cleaned[:200]


@dataclass(frozen=True)
class NamingRequest:
    public_id: str = ""
    public_id_prefix: str = ""
    folder: str = ""
    asset_folder: str | None = None
    use_filename: bool = False
    unique_filename: bool = True
    use_asset_folder_as_public_id_prefix: bool = False
    filename: str = ""  # the name of the uploaded file or URL, or filename_override
    display_name: str = ""
    use_filename_as_display_name: bool = False
    resource_type: str = "image"


@dataclass(frozen=True)
class Naming:
    public_id: str
    asset_folder: str
    display_name: str


def resolve_naming(request: NamingRequest, folder_mode: str) -> Naming:
    """Apply Cloudinary's naming rules.

    * An explicit public id wins; otherwise the file name (``use_filename``, with a random
      ``_xxxxxx`` suffix unless ``unique_filename`` is false), otherwise 20 random characters.
    * Raw files keep their extension inside the public id, as on Cloudinary.
    * ``folder`` always prefixes the public id (fixed mode's only folder, and dynamic mode's
      backwards-compatible behaviour, where it also sets the asset folder).
    * In dynamic mode ``asset_folder`` places the asset in the Media Library independently of
      its public id; in fixed mode the asset folder is the public id's path.
    """
    folder = normalize_folder(request.folder)
    prefix = request.public_id_prefix.strip("/")
    if request.public_id:
        base = request.public_id
    elif request.use_filename and sanitize_stem(filename_stem(request.filename)):
        base = sanitize_stem(filename_stem(request.filename))
        if request.unique_filename:
            base = f"{base}_{random_suffix()}"
        if request.resource_type == "raw" and extension_of(request.filename):
            base = f"{base}.{extension_of(request.filename)}"
    else:
        base = random_public_id()
        if request.resource_type == "raw" and extension_of(request.filename):
            base = f"{base}.{extension_of(request.filename)}"

    if folder_mode == "dynamic":
        asset_folder = normalize_folder(request.asset_folder, "Asset folder") if request.asset_folder is not None else folder
        if request.use_asset_folder_as_public_id_prefix and asset_folder and not request.public_id:
            base = f"{asset_folder}/{base}"
    else:
        asset_folder = ""
    parts = [part for part in (folder, prefix) if part]
    public_id = "/".join([*parts, base]) if parts else base
    validate_public_id(public_id)
    if folder_mode == "fixed":
        asset_folder = public_id.rsplit("/", 1)[0] if "/" in public_id else ""

    display_name = request.display_name
    if not display_name and request.use_filename_as_display_name:
        display_name = filename_stem(request.filename)
    if not display_name:
        display_name = public_id.rsplit("/", 1)[-1]
    return Naming(public_id=public_id, asset_folder=asset_folder, display_name=display_name)
