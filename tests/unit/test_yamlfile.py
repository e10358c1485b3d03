"""A config file read strictly: what PyYAML's safe_load would take silently, or fail on with a traceback, is a
ConfigError naming the file and the line. Real files in a temporary folder."""

from __future__ import annotations

import os
import time

import pytest

from dockstack import yamlfile
from dockstack.config import generated_secrets, load_inventory, secrets_file_for
from dockstack.errors import ConfigError
from dockstack.services.registry import GENERATED_KEYS
from tests.unit.conftest import assert_config_error


def refused(path, key: str, *words: str) -> None:
    with pytest.raises(ConfigError) as e:
        yamlfile.load(path)
    assert_config_error(e, path, key, *words)


REFUSED = {  # what a file holds -> the key (or line) and the words of its error
    "key-twice": (b"hosts:\n  - name: host1\n    address: 10.0.0.1\n    address: 10.0.0.2\n",
                  "line 4", ["'address' is given twice"]),
    "section-twice": (b"containers: [{name: a}]\nroles: []\ncontainers: [{name: b}]\n",
                      "line 3", ["'containers' is given twice"]),
    "alias-to-itself": (b"roles: &r [a, *r]\n", "(file)", ["refers to itself"]),
    "not-utf8": (b"network:\n  # caf\xe9\n  domain: x\n", "line 2",
                 ["not UTF-8 text", "0xe9", "save the file as UTF-8"]),
    "nul": (b"network:\n  domain: a\x00b\n", "line 2", ["not valid YAML", "U+0000"]),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_safe_load_would_take_or_trip_on_is_refused_with_where(tmp_path, case):
    content, key, words = REFUSED[case]
    p = tmp_path / "config.yaml"
    p.write_bytes(content)
    refused(p, key, *words)


def test_keys_beside_a_merge_override_it_as_yaml_means(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("base: &b {image: x, host: h1}\nc: {<<: *b, host: h2}\n")
    assert yamlfile.load(p)["c"] == {"image": "x", "host": "h2"}


@pytest.mark.parametrize("number", ["9" * 5000, "0x" + "f" * 300, "-" + "9" * 30])
def test_an_integer_no_setting_could_hold_is_refused(tmp_path, number):
    p = tmp_path / "hosts.yaml"
    p.write_text(f"network:\n  mtu: {number}\n")
    refused(p, "line 2", "too large for any setting")


def test_the_largest_integer_allowed_is_read(tmp_path):
    p = tmp_path / "hosts.yaml"
    p.write_text(f"a: {'9' * yamlfile.MAX_INT_DIGITS}\nb: 0x{'f' * 15}\n")
    assert yamlfile.load(p) == {"a": int("9" * yamlfile.MAX_INT_DIGITS), "b": 16**15 - 1}


def test_aliases_that_nest_into_billions_are_refused_at_once(tmp_path):
    lines = ["a: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    p = tmp_path / "containers.yaml"
    p.write_text("\n".join(lines) + "\nroles: *l8\n")
    t0 = time.monotonic()
    refused(p, "(file)", "more than 100000 values")
    assert time.monotonic() - t0 < 10  # 10**9 values are never walked, let alone quoted


@pytest.mark.parametrize("make", ["directory", "device", "large"])
def test_what_is_no_config_file_is_refused_before_reading(tmp_path, make):
    if make == "directory":
        p, words = tmp_path, ("is a directory",)
    elif make == "device":
        p, words = tmp_path.__class__(os.devnull).resolve().parent / "zero", ("not a regular file",)
    else:
        p, words = tmp_path / "big.yaml", ("more than a config file's",)
        p.write_text("# " + "x" * yamlfile.MAX_BYTES + "\n")
    refused(p, "(file)", *words)


def test_an_empty_file_is_an_empty_mapping(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("# nothing yet\n")
    assert yamlfile.load(p) == {}


def test_a_whole_file_that_is_a_list_is_named_as_the_file(tmp_path):
    p = tmp_path / "hosts.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError) as e:
        load_inventory(p)
    assert str(e.value) == f"{p}: (file): must be a mapping, got a list (write KEY: VALUE lines)"


def test_the_secrets_file_is_read_as_strictly(tmp_path):
    containers = tmp_path / "containers.yaml"
    secrets = secrets_file_for(containers)
    secrets.write_bytes(b"galera_root_password: \xff\xfe\n")
    with pytest.raises(ConfigError) as e:
        generated_secrets(containers, GENERATED_KEYS)
    assert_config_error(e, secrets, "line 1", "not UTF-8 text")


def test_a_misspelt_key_in_the_secrets_file_is_refused_not_joined_by_a_new_password(tmp_path):
    containers = tmp_path / "containers.yaml"
    secrets = secrets_file_for(containers)
    secrets.write_text("galera_root_pasword: " + "A" * 32 + "\n")
    with pytest.raises(ConfigError) as e:
        generated_secrets(containers, GENERATED_KEYS)
    assert_config_error(e, secrets, "galera_root_pasword", "unknown key", "allowed keys:")
    assert secrets.read_text() == "galera_root_pasword: " + "A" * 32 + "\n"  # left as it was
