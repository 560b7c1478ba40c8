"""The official Node SDK (npm ``cloudinary``) uploads, renames and uploads in chunks."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

NODE_DIR = Path(__file__).parent / "node"


def test_node_sdk_upload_rename_and_chunks(server, files, tmp_path):
    node = shutil.which("node")
    assert node, "node is required (scripts/test installs it)"
    assert (NODE_DIR / "node_modules" / "cloudinary").exists(), "run `npm ci` in tests/sdk/node (scripts/test does)"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    env = {**os.environ, "CLOUDINARY_URL": server.cloudinary_url}
    completed = subprocess.run([node, "upload_and_rename.js", str(files["jpg"]), str(big)], cwd=NODE_DIR, env=env,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    uploaded, renamed, chunked = result["uploaded"], result["renamed"], result["chunked"]
    assert uploaded["format"] == "jpg" and uploaded["width"] == 400
    assert uploaded["tags"] == ["node", "sdk"]
    assert uploaded["context"] == {"custom": {"alt": "a|b=c"}}
    assert renamed["public_id"] == uploaded["public_id"] + "-renamed"
    assert chunked["resource_type"] == "raw" and chunked["bytes"] == big.stat().st_size
    assert chunked["etag"] == hashlib.md5(big.read_bytes()).hexdigest()
    assert result["unsignedError"]["http_code"] == 400
