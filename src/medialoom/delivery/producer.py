"""Making one derived file: the path shared by delivery URLs, eager transformations and
``explicit``.

``prepare`` turns transformation text into what to render (named transformations expanded,
support checked); ``produce`` renders it for one asset version and format unless it is stored
already, and records the file so that the resource detail lists it and deleting by
transformation finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from medialoom.assets.serialize import split_format
from medialoom.assets.store import derived_prefix, find_asset
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import Asset, DerivedFile
from medialoom.db.session import Database, utcnow
from medialoom.delivery.derived import Derivations, derived_key
from medialoom.delivery.named import NamedTransformations
from medialoom.delivery.render_job import RenderJob
from medialoom.errors import BadRequest
from medialoom.media.video_frames import parse_offset
from medialoom.storage import BlobStore
from medialoom.transform.grammar import Transformation, TransformationError, canonical, parse
from medialoom.transform.render import Rendered, check_supported


@dataclass(frozen=True)
class Prepared:
    asked: Transformation  # as written, ``t_`` kept: what the derived file is listed under
    effective: Transformation  # what is rendered
    frame: str | None = None  # a video thumbnail's ``so_`` value
    client_dpr: bool = False  # dpr_auto took the client's hint: the answer varies with it

    @property
    def listed_as(self) -> str:
        """How the derived file is listed: a video still's offset comes first, as its own step."""
        return "/".join(filter(None, [self.frame and f"so_{self.frame}", canonical(self.asked)]))


@dataclass(frozen=True)
class Produced:
    key: str
    format: str
    bytes: int
    width: int | None
    height: int | None


class Producer:
    def __init__(self, db: Database, blobs: BlobStore, derivations: Derivations,
                 named: NamedTransformations) -> None:
        self.db = db
        self.blobs = blobs
        self.derivations = derivations
        self.named = named

    def prepare(self, env: EnvironmentInfo, text: str, dpr: float | None = None) -> Prepared:
        """Raises TransformationError (a 400 naming the parameter). ``dpr`` is the client's
        pixel ratio that ``dpr_auto`` stands for (1.0 when the client sent no hint)."""
        asked = parse(text)
        effective = self.named.expand(env, asked)
        client_dpr = any(c.dpr == "auto" for c in effective.components)
        if client_dpr:
            effective = Transformation(tuple(replace(c, dpr=dpr or 1.0) if c.dpr == "auto" else c
                                             for c in effective.components))
        check_supported(effective)
        return Prepared(asked, effective, client_dpr=client_dpr)

    def key(self, env: EnvironmentInfo, asset: Asset, prepared: Prepared, format_: str, *,
            save_data: bool = False) -> str:
        variant = "|".join(filter(None, ["save-data" if save_data else "", prepared.frame and f"so_{prepared.frame}"]))
        return derived_key(env.id, asset.version_id, prepared.effective, format_, variant)

    def exists(self, key: str) -> bool:
        return self.blobs.exists(key)

    def produce(self, env: EnvironmentInfo, asset: Asset, prepared: Prepared, format_: str, *,
                save_data: bool = False) -> str:
        """The blob key of the derived file, rendered now if it was not stored yet. A video's
        still at ``prepared.frame`` is the source of a video thumbnail. Raises
        TransformationError, RenderError, or VideoFrameError / InvalidOffset /
        VideoFramesUnavailable for video thumbnails."""
        key = self.key(env, asset, prepared, format_, save_data=save_data)
        # Save-Data variants are not listed: they are a delivery detail of a listed file.
        stored = None if save_data else partial(self._record, env, asset, prepared, format_, key)
        return self.derivations.get_or_render(key, self._job(env, asset, prepared, format_, save_data), stored)

    def facts(self, key: str) -> Produced | None:
        with self.db.read() as session:
            row = session.scalar(select(DerivedFile).where(DerivedFile.key == key))
        if row is None:
            return None
        return Produced(row.key, row.format, row.bytes, row.width, row.height)

    def forget(self, env: EnvironmentInfo, asset: Asset, transformations: list[str] | None = None) -> int:
        """Delete an asset's derived files (those of ``transformations`` only, when given);
        returns how many went. Unrecorded files (Save-Data variants) go with the whole set."""
        wanted = None if transformations is None else {self._listed_as(text) for text in transformations}
        with self.db.write() as session:
            rows = session.scalars(select(DerivedFile).where(DerivedFile.asset_pk == asset.id)).all()
            gone = [row for row in rows if wanted is None or row.transformation in wanted]
            if gone:
                session.execute(delete(DerivedFile).where(DerivedFile.id.in_([row.id for row in gone])))
        for row in gone:
            self.blobs.delete(row.key)
        if transformations is None:
            self.blobs.delete_prefix(derived_prefix(env.id, asset.version_id))
        return len(gone)

    def forget_by_ids(self, env: EnvironmentInfo, ids: list[str]) -> dict[str, str]:
        """``DELETE derived_resources``: the derived files with these ids, in this environment."""
        numbers = [int(i) for i in ids if str(i).isdigit()]
        with self.db.write() as session:
            rows = session.scalars(select(DerivedFile).where(
                DerivedFile.environment_id == env.id, DerivedFile.id.in_(numbers))).all()
            if rows:
                session.execute(delete(DerivedFile).where(DerivedFile.id.in_([row.id for row in rows])))
        for row in rows:
            self.blobs.delete(row.key)
        found = {str(row.id) for row in rows}
        return {str(i): "deleted" if str(i) in found else "not_found" for i in ids}

    @staticmethod
    def _listed_as(text: str) -> str:
        try:
            return canonical(parse(split_format(text)[0]))
        except TransformationError as error:
            raise BadRequest(f"Invalid transformation {text!r}: {error}") from None

    def _job(self, env: EnvironmentInfo, asset: Asset, prepared: Prepared, format_: str,
             save_data: bool) -> RenderJob:
        video = asset.resource_type == "video"
        layers = {}
        for component in prepared.effective.components:
            for layer in (component.overlay, component.underlay):
                if layer is not None and layer.kind == "image" and layer.public_id not in layers:
                    layers[layer.public_id] = self._layer_key(env, layer.public_id)
        return RenderJob(source_key=asset.blob_key, transformation=prepared.effective, output_format=format_,
                         save_data=save_data, video=video,
                         offset=parse_offset(prepared.frame or "auto") if video else None,
                         layers={public_id: key for public_id, key in layers.items() if key})

    def _layer_key(self, env: EnvironmentInfo, public_id: str) -> str | None:
        with self.db.read() as session:
            layer = find_asset(session, env.id, "image", "upload", public_id)
        if layer is None or layer.placeholder or not layer.blob_key:
            return None
        return layer.blob_key

    def _record(self, env: EnvironmentInfo, asset: Asset, prepared: Prepared, format_: str, key: str,
                rendered: Rendered) -> None:
        try:
            self.db.insert_unless_present(DerivedFile.__table__, dict(
                environment_id=env.id, asset_pk=asset.id, version_id=asset.version_id,
                transformation=prepared.listed_as, format=format_, key=key,
                bytes=len(rendered.data), width=rendered.width, height=rendered.height,
                created_at=utcnow()))
        except IntegrityError:
            pass  # the asset was deleted meanwhile
