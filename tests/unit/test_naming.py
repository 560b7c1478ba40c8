import re

import pytest

from medialoom.assets.codecs import encode_key_values, parse_key_values, parse_metadata, parse_tags
from medialoom.assets.naming import NamingRequest, resolve_naming, validate_public_id
from medialoom.errors import BadRequest


@pytest.mark.parametrize("bad", [
    "../../t2/x", "a/../b", "./a", "/etc/passwd", "a//b", "a/", "%2e%2e%2fx", "..%5cx", "%252e%252e",
    "．．／x", "a\x00.jpg", "a\\b", "x?y", "x#y", "x&overwrite=true", "a" * 2000, "a/ b /c",
])
def test_hostile_public_ids_are_refused(bad):
    with pytest.raises(BadRequest):
        validate_public_id(bad)


@pytest.mark.parametrize("good", ["sample", "folder/sub/pic", "ünïcødé/名前", "a.b.c", "with space"])
def test_ordinary_public_ids_pass(good):
    assert validate_public_id(good) == good


def test_use_filename_with_and_without_unique_suffix():
    unique = resolve_naming(NamingRequest(use_filename=True, filename="/tmp/x/logo.png"), "dynamic")
    assert re.fullmatch(r"logo_[a-z0-9]{6}", unique.public_id)
    exact = resolve_naming(NamingRequest(use_filename=True, unique_filename=False, filename="logo.png"), "dynamic")
    assert exact.public_id == "logo"


def test_raw_files_keep_their_extension():
    naming = resolve_naming(NamingRequest(use_filename=True, unique_filename=False, filename="doc.PDF",
                                          resource_type="raw"), "dynamic")
    assert naming.public_id == "doc.pdf"


def test_folder_prefixes_and_sets_the_asset_folder_in_dynamic_mode():
    naming = resolve_naming(NamingRequest(public_id="pic", folder="/shop/shoes/"), "dynamic")
    assert (naming.public_id, naming.asset_folder, naming.display_name) == ("shop/shoes/pic", "shop/shoes", "pic")
    separate = resolve_naming(NamingRequest(public_id="pic", asset_folder="library/a"), "dynamic")
    assert (separate.public_id, separate.asset_folder) == ("pic", "library/a")
    fixed = resolve_naming(NamingRequest(public_id="a/b/pic"), "fixed")
    assert fixed.asset_folder == "a/b"


def test_random_public_id_when_nothing_names_it():
    assert re.fullmatch(r"[a-z0-9]{20}", resolve_naming(NamingRequest(), "dynamic").public_id)


def test_context_escaping_round_trips():
    assert parse_key_values(r"alt=x\|y\=z|caption=c") == {"alt": "x|y=z", "caption": "c"}
    values = {"alt": "a|b=c", "note": "plain"}
    assert parse_key_values(encode_key_values(values)) == values
    assert parse_metadata('f1=v|f2=["a","b"]') == {"f1": "v", "f2": ["a", "b"]}


def test_tags_are_deduplicated_and_trimmed():
    assert parse_tags(["a, b", "b", " c ,,"]) == ["a", "b", "c"]
