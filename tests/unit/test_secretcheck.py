"""The secret fingerprints (dockstack/secretcheck.py): the label a container is created with, its reading back, and
the pure comparison that refuses a missing or differing secrets file before anything changes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dockstack import dockercli
from dockstack.config import GeneratedSecrets
from dockstack.errors import DockstackError
from dockstack.facts import ContainerState, HostFacts
from dockstack.secretcheck import (
    LABEL_SECRETS,
    Mismatch,
    check_deployed,
    compare,
    deployed_fingerprints,
    fingerprint,
    parse_label,
    refusal,
    secrets_label,
)

OLD = "A" * 32  # a value the deployed containers were made with
NEW = "B" * 32
PATH = "/ops/containers.secrets.yaml"


def loaded(values: dict[str, str], made: tuple[str, ...] = (), found: bool = True) -> GeneratedSecrets:
    return GeneratedSecrets(PATH, values, made, found)


def carried(**keys: str) -> dict[str, str]:
    """A deployed container's fingerprints: key -> the value it was made with."""
    return {k: fingerprint(k, v) for k, v in keys.items()}


def test_a_fingerprint_is_16_hex_of_key_and_value_and_never_shows_the_value():
    fp = fingerprint("redis_password", OLD)
    assert re.fullmatch(r"[0-9a-f]{16}", fp) and OLD not in fp
    assert fp == fingerprint("redis_password", OLD)  # no per-run or per-stack salt: a later command compares
    assert fp != fingerprint("redis_password", NEW)
    assert fp != fingerprint("galera_root_password", OLD)  # two keys with the same value do not look alike


@pytest.fixture
def redis_stack(cfg):
    """A stack with a redis role (a generated password) and a plain role; the secrets file is beside it."""
    cfg.containers["roles"] += [{"name": "cache", "service": "redis", "check": "true"}]
    cfg.containers["containers"] += [
        {"name": "cache1", "role": "cache", "host": "h1", "image": "test/base:bookworm"},
        {"name": "cache2", "role": "cache", "host": "h2", "image": "test/base:bookworm",
         "env": {"REDIS_PASSWORD": "mine" * 8}}]  # its own value: not the secrets file's
    return cfg


def test_a_container_with_a_generated_password_is_created_with_its_fingerprint_and_others_without(redis_stack):
    inv, stack = redis_stack.load()
    value = stack.generated.values["redis_password"]
    cache1, cache2, app1 = stack.container("cache1"), stack.container("cache2"), stack.container("app1")
    assert cache1.generated == (("redis_password", value),) and cache1.secrets == (("REDIS_PASSWORD", value),)
    assert cache2.generated == () and cache2.secrets == (("REDIS_PASSWORD", "mine" * 8),)  # a file all the same
    assert cache1.env == () and cache2.env == (("REDIS_PASSWORD_FILE", "/run/secrets/REDIS_PASSWORD"),)
    assert json.loads(secrets_label(cache1)) == {"redis_password": fingerprint("redis_password", value)}
    assert secrets_label(cache2) is None and secrets_label(app1) is None
    net = inv.network
    argv = dockercli.run_argv(cache1, net, ["10.100.0.2"])
    assert f"{LABEL_SECRETS}={secrets_label(cache1)}" in argv
    assert not any(value in a for a in argv)
    assert not any(a.startswith(LABEL_SECRETS) for a in dockercli.run_argv(app1, net, ["10.100.0.2"]))


def test_a_label_reads_back_as_written():
    text = json.dumps(carried(redis_password=OLD, galera_root_password=NEW))
    assert parse_label(text) == carried(redis_password=OLD, galera_root_password=NEW)
    assert parse_label("{}") == {}


@pytest.mark.parametrize("text", [
    "", "not json", "[]", '"abc"', '{"redis_password": 5}', '{"redis_password": "0123456789ABCDEF"}',
    '{"redis_password": "0123456789abcde"}', '{"redis_password": "0123456789abcdef0"}',
    '{"Redis_password": "0123456789abcdef"}', '{"redis password": "0123456789abcdef"}',
    '{"redis_password": "0123456789abcdef\\n"}',
    json.dumps({f"k{i}": "0" * 16 for i in range(65)}),  # more keys than any stack has
    "[" * 100_000,  # deep nesting: refused, not a RecursionError
])
def test_a_label_that_dockstack_did_not_write_is_refused_whole(text):
    assert parse_label(text) is None


def test_the_same_values_or_keys_never_deployed_pass():
    secrets = loaded({"redis_password": OLD, "galera_root_password": NEW}, made=("galera_root_password",))
    deployed = {("h1", "cache1"): carried(redis_password=OLD), ("h2", "app1"): {}}
    assert not compare(secrets, deployed)  # galera's is new, and no deployed container has it: a new service


def test_a_key_the_stacks_services_no_longer_have_is_not_checked():
    assert not compare(loaded({"redis_password": OLD}), {("h1", "old1"): carried(gone_password=NEW)})


def test_a_differing_value_is_found_with_the_containers_that_carry_the_old_one():
    secrets = loaded({"redis_password": NEW, "galera_root_password": OLD})
    deployed = {("h1", "cache1"): carried(redis_password=OLD, galera_root_password=OLD),
                ("h2", "cache1"): carried(redis_password=OLD),  # the same name on two hosts: named once
                ("h2", "cache0"): carried(redis_password=OLD)}
    assert compare(secrets, deployed) == Mismatch(differs={"redis_password": ("cache0", "cache1")})


def test_a_key_this_load_made_anew_is_missing():
    secrets = loaded({"redis_password": NEW}, made=("redis_password",))
    assert compare(secrets, {("h1", "cache1"): carried(redis_password=OLD)}) == Mismatch(
        missing={"redis_password": ("cache1",)})


def test_a_missing_file_names_itself_the_containers_the_keys_and_how_to_restore_it():
    secrets = loaded({"redis_password": NEW, "galera_root_password": NEW},
                     made=("redis_password", "galera_root_password"), found=False)
    deployed = {("h1", "galera1"): carried(galera_root_password=OLD), ("h2", "cache1"): carried(redis_password=OLD)}
    msg = refusal(secrets, compare(secrets, deployed))
    assert msg.startswith(f"{PATH}: missing, but the deployed stack was made with it (containers cache1, galera1 "
                          f"carry its keys galera_root_password, redis_password): restore it from your backup to "
                          f"{PATH}; the deployed stack's data holds the old values"), msg
    assert msg.endswith("Nothing was changed")
    assert OLD not in msg and NEW not in msg


def test_a_differing_value_names_the_key_never_a_value():
    secrets = loaded({"redis_password": NEW, "galera_root_password": OLD})
    deployed = {("h1", "cache1"): carried(redis_password=OLD, galera_root_password=OLD)}
    msg = refusal(secrets, compare(secrets, deployed))
    assert msg.startswith(f"{PATH}: redis_password differs from the value the deployed stack was made with "
                          "(containers cache1 carry the old one): put the old values back (restore the file from "
                          f"your backup to {PATH}); the deployed stack's data holds the old values"), msg
    assert "galera_root_password" not in msg and OLD not in msg and NEW not in msg


def test_a_file_lacking_one_key_and_differing_in_another_says_both():
    secrets = loaded({"redis_password": NEW, "galera_root_password": NEW}, made=("galera_root_password",))
    deployed = {("h1", "galera1"): carried(galera_root_password=OLD), ("h2", "cache1"): carried(redis_password=OLD)}
    msg = refusal(secrets, compare(secrets, deployed))
    assert msg.startswith(f"{PATH}: has no galera_root_password, but the deployed stack was made with it (containers "
                          "galera1); and redis_password differs from the value"), msg


def test_long_lists_are_cut_with_a_count():
    keys = {f"k{i:02}_password": OLD for i in range(12)}
    secrets = loaded(dict.fromkeys(keys, NEW), made=tuple(keys), found=False)
    deployed = {("h1", f"c{i:02}"): carried(**keys) for i in range(10)}
    msg = refusal(secrets, compare(secrets, deployed))
    assert "containers c00, c01, c02, c03, c04, c05, c06, c07 and 2 more carry its keys k00_password," in msg
    assert "k07_password and 4 more)" in msg


def test_no_mismatch_no_refusal():
    assert refusal(loaded({"redis_password": OLD}), Mismatch()) is None


def state(name: str, labels: dict[str, str]) -> ContainerState:
    return ContainerState(name, True, 7, "test/base:bookworm", "sha256:x", labels)


def test_only_the_stacks_containers_are_read_and_a_bad_label_is_refused_naming_container_and_host(redis_stack):
    _, stack = redis_stack.load()
    good = {LABEL_SECRETS: json.dumps(carried(redis_password=OLD))}
    hosts = {"h1": HostFacts({"cache1": state("cache1", good), "other": state("other", {LABEL_SECRETS: "junk"}),
                              "app1": state("app1", {})}, {}, {})}
    assert deployed_fingerprints(stack, hosts) == {("h1", "cache1"): carried(redis_password=OLD)}
    hosts["h2"] = HostFacts({"cache2": state("cache2", {LABEL_SECRETS: '{"redis_password": "x"}'})}, {}, {})
    with pytest.raises(DockstackError, match=r"^cache2 on h2: its label org.dockstack.secrets is not what dockstack "
                                             r"writes .*`inv remove --name=cache2`"):
        deployed_fingerprints(stack, hosts)


def test_check_deployed_raises_the_refusal_and_passes_a_matching_stack(redis_stack):
    _, stack = redis_stack.load()
    stack.generated.save()
    _, stack = redis_stack.load()  # the values read from the file, as the deployed containers got them
    value = stack.generated.values["redis_password"]
    same = {"h1": HostFacts({"cache1": state("cache1", {LABEL_SECRETS: json.dumps(carried(redis_password=value))})},
                            {}, {})}
    check_deployed(stack, same)
    other = {"h1": HostFacts({"cache1": state("cache1", {LABEL_SECRETS: json.dumps(carried(redis_password=OLD))})},
                             {}, {})}
    with pytest.raises(DockstackError, match=r"containers.secrets.yaml: redis_password differs from the value "):
        check_deployed(stack, other)
    Path(stack.generated.path).unlink()
    _, stack = redis_stack.load()
    with pytest.raises(DockstackError, match=r"containers.secrets.yaml: missing, but the deployed stack was made with "
                                             r"it \(containers cache1 carry its keys redis_password\)"):
        check_deployed(stack, same)


def test_a_stack_without_generated_passwords_checks_nothing(cfg):
    _, stack = cfg.load()
    assert stack.generated is None
    check_deployed(stack, {"h1": HostFacts({"app1": state("app1", {LABEL_SECRETS: "junk"})}, {}, {})})
