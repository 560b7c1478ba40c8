"""The official ``cld`` command line against the server (presets, uploads, tags, rename, destroy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLD = Path(sys.executable).parent / "cld"


def cld(server, *args: str) -> dict:
    env = {**os.environ, "CLOUDINARY_URL": server.cloudinary_url, "HOME": str(server.data_dir)}
    completed = subprocess.run([str(CLD), *args], capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode == 0, f"cld {' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}"
    return json.loads(completed.stdout)


def cld_fails(server, *args: str) -> str:
    env = {**os.environ, "CLOUDINARY_URL": server.cloudinary_url, "HOME": str(server.data_dir)}
    completed = subprocess.run([str(CLD), *args], capture_output=True, text=True, env=env, timeout=120)
    return completed.stdout + completed.stderr


@pytest.fixture(scope="module", autouse=True)
def cli_available():
    assert CLD.exists(), f"cld is not installed next to {sys.executable}"


def test_presets_through_cld_admin(server):
    created = cld(server, "admin", "create_upload_preset", "name=cli-preset", "unsigned=true", "folder=cli")
    assert created == {"message": "created", "name": "cli-preset"}
    preset = cld(server, "admin", "upload_preset", "cli-preset")
    assert preset["name"] == "cli-preset" and preset["unsigned"] is True
    assert preset["settings"]["folder"] == "cli"
    listed = cld(server, "admin", "upload_presets", "max_results=500")
    assert "cli-preset" in [p["name"] for p in listed["presets"]]
    assert cld(server, "admin", "update_upload_preset", "cli-preset", "folder=cli2")["message"] == "updated"
    assert cld(server, "admin", "upload_preset", "cli-preset")["settings"]["folder"] == "cli2"
    assert cld(server, "admin", "delete_upload_preset", "cli-preset")["message"] == "deleted"
    assert "not found" in cld_fails(server, "admin", "upload_preset", "cli-preset")


def test_upload_tag_rename_destroy_through_cld(server, files):
    uploaded = cld(server, "uploader", "upload", str(files["png"]), "public_id=cli/logo", "tags=a,b")
    assert uploaded["public_id"] == "cli/logo" and uploaded["tags"] == ["a", "b"]
    assert cld(server, "uploader", "add_tag", "c", "cli/logo")["public_ids"] == ["cli/logo"]
    renamed = cld(server, "uploader", "rename", "cli/logo", "cli/logo2")
    assert renamed["public_id"] == "cli/logo2" and renamed["tags"] == ["a", "b", "c"]
    assert cld(server, "uploader", "destroy", "cli/logo2")["result"] == "ok"


def test_cli_reads_the_folder_mode(server):
    assert cld(server, "admin", "config", "settings=true")["settings"]["folder_mode"] == "dynamic"
