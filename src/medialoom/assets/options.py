"""The parameters of an upload (and of ``explicit``), checked and typed.

Presets are merged here: a preset's settings apply to every upload that names it, and the
parameters of the call itself win. Unsigned uploads may only set a short list of harmless
parameters; everything else must come from the (unsigned) preset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from medialoom.assets.codecs import parse_bool, parse_key_values, parse_metadata, parse_tags
from medialoom.assets.naming import NamingRequest
from medialoom.auth.access import AccessControlError, parse_access_control
from medialoom.errors import BadRequest

TRANSPORT_PARAMS = frozenset({"file", "api_key", "signature", "timestamp", "signature_algorithm", "resource_type", "cloud_name"})

# Every upload parameter the official Python and Node clients can send.
UPLOAD_PARAMS = frozenset(
    """public_id public_id_prefix callback format type backup faces image_metadata media_metadata exif colors
    use_filename unique_filename display_name use_filename_as_display_name discard_original_filename
    filename_override invalidate notification_url eager_notification_url eager_async eval on_success proxy
    folder asset_folder use_asset_folder_as_public_id_prefix unique_display_name overwrite moderation
    raw_convert quality_override quality_analysis ocr categorization detection similarity_search visual_search
    background_removal upload_preset phash return_delete_token auto_tagging async cinemagraph_analysis
    accessibility_analysis auto_chaptering batch_id transformation headers eager tags allowed_formats
    face_coordinates custom_coordinates regions context responsive_breakpoints access_control metadata
    auto_transcription access_mode clear_invalid source""".split()
)

# What an unsigned upload may set itself (Cloudinary's own list for unsigned uploads).
UNSIGNED_ALLOWED = frozenset(
    """upload_preset callback public_id folder asset_folder display_name tags context metadata
    face_coordinates custom_coordinates regions filename_override source timestamp""".split()
)

# Accepted and validated, but they need an engine or add-on that does not exist yet: asking
# for them gets a clear error instead of being silently ignored.
UNSUPPORTED = {
    "ocr": "OCR",
    "categorization": "Categorization",
    "detection": "Detection",
    "raw_convert": "Raw convert",
    "background_removal": "Background removal",
    "auto_tagging": "Auto tagging",
    "eval": "eval",
    "on_success": "on_success",
    "proxy": "proxy",
    "auto_transcription": "Auto transcription",
    "auto_chaptering": "Auto chaptering",
    "responsive_breakpoints": "Responsive breakpoints",
    "transformation": "Incoming transformation",
}
# Analyses that are answered as "not requested" for now; asking for them is harmless.
_IGNORED_FLAGS = (
    "faces image_metadata media_metadata exif colors phash quality_analysis cinemagraph_analysis "
    "accessibility_analysis similarity_search visual_search invalidate discard_original_filename "
    "eager_async unique_display_name clear_invalid"
).split()

MODERATION_KINDS = ("manual",)
DELIVERY_TYPES = ("upload", "private", "authenticated")


def check_known(values: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(name for name in values if name not in allowed and name not in TRANSPORT_PARAMS)
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(unknown)}")


@dataclass
class UploadOptions:
    public_id: str = ""
    public_id_prefix: str = ""
    folder: str = ""
    asset_folder: str | None = None
    use_filename: bool = False
    unique_filename: bool = True
    use_asset_folder_as_public_id_prefix: bool = False
    use_filename_as_display_name: bool = False
    filename_override: str = ""
    display_name: str = ""
    type: str = "upload"
    access_mode: str = "public"
    access_control: list[dict[str, str]] | None = None
    format: str = ""
    overwrite: bool = True
    backup: bool = False
    tags: list[str] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, object] = field(default_factory=dict)
    moderation: str = ""
    notification_url: str = ""
    eager_notification_url: str = ""
    eager: list[str] = field(default_factory=list)
    eager_async: bool = False
    invalidate: bool = False
    allowed_formats: list[str] = field(default_factory=list)
    return_delete_token: bool = False
    callback: str = ""
    async_: bool = False
    batch_id: str = ""
    upload_preset: str = ""

    def naming(self, filename: str, resource_type: str) -> NamingRequest:
        """The naming rules' input for a file called ``filename`` of ``resource_type``."""
        return NamingRequest(
            public_id=self.public_id, public_id_prefix=self.public_id_prefix, folder=self.folder,
            asset_folder=self.asset_folder, use_filename=self.use_filename, unique_filename=self.unique_filename,
            use_asset_folder_as_public_id_prefix=self.use_asset_folder_as_public_id_prefix,
            filename=self.filename_override or filename, display_name=self.display_name,
            use_filename_as_display_name=self.use_filename_as_display_name, resource_type=resource_type,
        )


def _access_control(value: Any) -> list[dict[str, str]] | None:
    if value in (None, ""):
        return None
    try:
        return parse_access_control(value) or None
    except AccessControlError as error:
        raise BadRequest(str(error)) from None


def _flag(values: dict[str, Any], name: str, default: bool) -> bool:
    result = parse_bool(values.get(name), name, default)
    return bool(result)


def _text(values: dict[str, Any], name: str) -> str:
    value = values.get(name)
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def parse_eager(value: str) -> list[str]:
    """Eager transformations: ``c_fill,w_100|w_200/jpg``; kept as strings until derived."""
    if not value:
        return []
    if value.strip().startswith("["):
        try:
            decoded = json.loads(value)
        except ValueError as error:
            raise BadRequest("Invalid eager parameter") from error
        return [str(item) for item in decoded if item]
    return [item for item in value.split("|") if item]


def merge_preset(values: dict[str, Any], preset_settings: dict[str, Any]) -> dict[str, Any]:
    """Preset settings first, then the call's own parameters on top."""
    merged = {name: value for name, value in preset_settings.items() if value is not None}
    merged.update({name: value for name, value in values.items() if name not in TRANSPORT_PARAMS})
    return merged


def parse_upload_options(values: dict[str, Any], *, unsigned: bool, disallow_public_id: bool = False) -> UploadOptions:
    """Type the merged parameters; ``values`` already contains the preset's settings."""
    for name, label in UNSUPPORTED.items():
        if values.get(name) not in (None, "", "0", "false"):
            raise BadRequest(f"{label} is not supported by this server")
    for name in _IGNORED_FLAGS:
        parse_bool(values.get(name), name)

    options = UploadOptions(
        public_id="" if disallow_public_id else _text(values, "public_id").strip(),
        public_id_prefix=_text(values, "public_id_prefix"),
        folder=_text(values, "folder"),
        asset_folder=values.get("asset_folder") if values.get("asset_folder") is not None else None,
        use_filename=_flag(values, "use_filename", False),
        unique_filename=_flag(values, "unique_filename", True),
        use_asset_folder_as_public_id_prefix=_flag(values, "use_asset_folder_as_public_id_prefix", False),
        use_filename_as_display_name=_flag(values, "use_filename_as_display_name", False),
        filename_override=_text(values, "filename_override"),
        display_name=_text(values, "display_name"),
        type=_text(values, "type") or "upload",
        access_mode=_text(values, "access_mode") or "public",
        access_control=_access_control(values.get("access_control")),
        format=_text(values, "format").lower().lstrip("."),
        # Unsigned uploads never overwrite: anyone holding the preset name could replace assets.
        overwrite=False if unsigned else _flag(values, "overwrite", True),
        backup=_flag(values, "backup", False),
        tags=parse_tags(values.get("tags")),
        context=parse_key_values(values.get("context")),
        metadata=parse_metadata(values.get("metadata")),
        moderation=_text(values, "moderation"),
        notification_url=_text(values, "notification_url"),
        eager_notification_url=_text(values, "eager_notification_url"),
        eager=parse_eager(_text(values, "eager")),
        eager_async=_flag(values, "eager_async", False),
        invalidate=_flag(values, "invalidate", False),
        allowed_formats=[item.lower() for item in parse_tags(values.get("allowed_formats"))],
        return_delete_token=_flag(values, "return_delete_token", False),
        callback=_text(values, "callback"),
        async_=_flag(values, "async", False),
        batch_id=_text(values, "batch_id"),
        upload_preset=_text(values, "upload_preset"),
    )
    if options.type not in DELIVERY_TYPES:
        raise BadRequest(f"Invalid type {options.type!r}: use one of {', '.join(DELIVERY_TYPES)}")
    if options.access_mode not in ("public", "authenticated"):
        raise BadRequest("access_mode must be 'public' or 'authenticated'")
    if options.moderation and options.moderation not in MODERATION_KINDS:
        raise BadRequest(f"Moderation {options.moderation!r} is not valid: only 'manual' is available")
    for url_name in ("notification_url", "eager_notification_url", "callback"):
        url = getattr(options, url_name)
        if url and not url.startswith(("http://", "https://")):
            raise BadRequest(f"Invalid {url_name} {url!r}: must be an http or https URL")
    return options
