"""Secret env values: which keys are secret (config.is_secret), masking, and errors that never quote them."""

from __future__ import annotations

import json
import shlex

import pytest
from invoke import Context

import tasks
from dockstack import masking
from dockstack.config import SECRET_KEY_RE, is_secret, load_stack
from dockstack.errors import ConfigError, RemoteError
from dockstack.services.registry import DEFINITIONS

TOKEN = "Zq8-s3cr3t-Kx2"  # a value that appears nowhere else


# --- which keys are secret --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["PASSWORD", "DB_PASSWORD", "db_password", "MysqlPasswordFile", "SECRET",
                                 "APP_SECRET_KEY", "GITHUB_TOKEN", "tokens", "API_KEY", "KEYSTONE_URL", "key",
                                 "SSH_KEYFILE"])
def test_keys_whose_name_says_secret(key):
    assert is_secret(key)
    assert SECRET_KEY_RE.search(key)


@pytest.mark.parametrize("key", ["MODE", "DB_USER", "GREETING", "PASS", "PWD", "TOKN", "K_E_Y", "SECRE"])
def test_other_keys_are_not_secret(key):
    assert not is_secret(key)


def test_listed_keys_are_secret_too():
    assert is_secret("DB_PASS", ["DB_PASS", "OTHER"])
    assert not is_secret("DB_PASS", ["DB_PAS"])  # whole names only
    assert not is_secret("MODE", ["DB_PASS"])


# --- containers.yaml: secrets: ----------------------------------------------------------------------------


def test_stack_knows_its_secret_values(cfg):
    cfg.container(1)["env"] = {"DB_PASSWORD": TOKEN, "DB_PASS": "listed-value", "MODE": "production"}
    cfg.containers["secrets"] = ["DB_PASS"]
    _, stack = cfg.load()
    assert stack.secrets == ("DB_PASS",)
    assert stack.is_secret("DB_PASS") and stack.is_secret("DB_PASSWORD") and not stack.is_secret("MODE")
    assert stack.secret_values == {TOKEN, "listed-value"}
    assert stack.mask(f"said {TOKEN} and listed-value in production") == "said *** and *** in production"


def test_without_secrets_nothing_is_masked(cfg):
    cfg.container(1)["env"] = {"MODE": "production"}
    _, stack = cfg.load()
    assert stack.secrets == () and stack.secret_values == frozenset()
    assert stack.mask("production") == "production"


@pytest.mark.parametrize(("secrets", "key", "words"), [
    ("DB_PASS", "secrets", ["must be a list"]),
    ([["DB_PASS"]], "secrets[0]", ["not an environment variable name"]),
    (["DB PASS"], "secrets[0]", ["not an environment variable name"]),
    (["1PASS"], "secrets[0]", ["not an environment variable name"]),
    (["DB_PASS\n"], "secrets[0]", ["not an environment variable name"]),
    (["DB_PASS", "DB_PASS"], "secrets[1]", ["listed twice"]),
    (["DB_PASS", "DB_PAS"], "secrets[1]", ["'DB_PAS' is not an env key of any container", "misspelt"]),
], ids=["not-a-list", "nested-list", "space", "digit-first", "newline", "duplicate", "not-an-env-key"])
def test_bad_secrets_list(cfg, config_error, secrets, key, words):
    cfg.container(1)["env"] = {"DB_PASS": TOKEN}
    cfg.containers["secrets"] = secrets
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, key, *words)
    assert TOKEN not in str(e.value)


# --- config errors never quote a secret value -------------------------------------------------------------


@pytest.mark.parametrize(("value", "words"), [
    (f"{TOKEN}\n", ["newline"]),
    (f"{TOKEN}\nsecond line", ["newline"]),
    (f"{TOKEN}\x00", ["NUL"]),
    (f"{TOKEN}\x1b[0m", ["control character"]),
    (f"{TOKEN}\u2028", ["newline"]),
    ([TOKEN], ["a list", "not a string or a number"]),
    ({"v": TOKEN}, ["a dict", "not a string or a number"]),
], ids=["trailing-newline", "two-lines", "nul", "escape", "line-separator", "list", "mapping"])
@pytest.mark.parametrize("key", ["DB_PASSWORD", "LISTED"])
def test_error_about_a_secret_value_masks_it(cfg, config_error, key, value, words):
    cfg.container(1)["env"] = {"MODE": "x", key: value}
    cfg.containers["secrets"] = ["LISTED"]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, f"containers[1].env.{key}", "the secret value", *words)
    assert TOKEN not in str(e.value) and TOKEN not in repr(e.value.problem)


def test_error_about_a_plain_value_still_quotes_it(cfg, config_error):
    cfg.container(1)["env"] = {"GREETING": "hi\nthere"}
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].env.GREETING", "'hi\\nthere' contains a newline")


def test_env_written_as_a_list_is_not_echoed(cfg, config_error):
    cfg.container(1)["env"] = [f"DB_PASSWORD={TOKEN}"]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].env", "must be a mapping, got a list")
    assert TOKEN not in str(e.value)


def test_yaml_syntax_error_quotes_no_line_of_the_file(cfg):
    inv = cfg.load_inventory()
    cfg.write()
    text = cfg.containers_path.read_text() + f'secrets: [DB_PASSWORD\nbroken: "{TOKEN}\n'
    cfg.containers_path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_stack(inv, cfg.containers_path, definitions=DEFINITIONS)
    assert "not valid YAML" in str(e.value) and TOKEN not in str(e.value)


# --- masking ----------------------------------------------------------------------------------------------


def test_mask_replaces_every_form_of_the_value():
    value = "pa ss'wo\"rd\\x"
    text = " | ".join([value, repr(value), json.dumps(value), shlex.quote(value)])
    masked = masking.mask(text, [value])
    assert "pa ss" not in masked and "wo" not in masked
    assert masked.count(masking.MASK) == 4


def test_mask_takes_the_longest_value_first():
    assert masking.mask("abcdefgh abcd", ["abcd", "abcdefgh"]) == "*** ***"


def test_mask_leaves_short_values_alone():
    assert masking.mask("10.100.0.1 on", ["1", "on", "100"]) == "10.100.0.1 on"
    assert masking.mask("xx1000xx", ["1000"]) == "xx***xx"


def test_mask_without_values_is_the_identity():
    assert masking.mask("anything", []) == "anything"


# --- the CLI's last guard ---------------------------------------------------------------------------------


def test_cli_masks_what_an_action_says_and_raises(cfg, capsys):
    cfg.container(1)["env"] = {"DB_PASSWORD": TOKEN}
    hosts, containers = cfg.write()

    def action(inv, stack, remotes, out):
        out(f"  app1: container logs: DB_PASSWORD={TOKEN}")
        raise RemoteError("h2", "app1: create", f"docker said: --env DB_PASSWORD={TOKEN}")

    with pytest.raises(tasks.DockstackError) as e:
        tasks._on_hosts(Context(), str(hosts), str(containers), action)
    out = capsys.readouterr().out
    assert out == "  app1: container logs: DB_PASSWORD=***\n"
    assert str(e.value) == "h2: app1: create failed: docker said: --env DB_PASSWORD=***"
