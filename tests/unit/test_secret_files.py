"""Secrets are files, never environment: what each container of the shipped stack gets as secret files, that no
secret value reaches its `docker run` argv, labels or env lines, and how containers.yaml's secret env values turn
into files (KEY_FILE) or are refused."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml

from dockstack import actions, config, dockercli, ipam
from dockstack.config import SECRETS_MOUNT
from dockstack.errors import ConfigError
from dockstack.ipam import AddressPlan
from dockstack.secretcheck import secrets_label
from dockstack.services import secrets_dir
from dockstack.services.registry import DEFINITIONS, GENERATED_KEYS

PLAN = AddressPlan(None, None, ipam.NEW, None, "new lease")


def test_no_shipped_container_gets_a_secret_in_its_argv_labels_or_env(shipped_stack, shipped_inventory):
    """Every shipped container's create: the argv (docker run's included, with its spec and secrets labels) and
    the env lines on standard input hold no secret value; the secrets travel as their own lines after those, each
    for a file of the container's secrets folder, and nothing else follows (no service file given here)."""
    values = shipped_stack.secret_values
    assert len(values) > 20  # the generated passwords, the VRRP password
    dns = [str(d.ip) for d in shipped_stack.address_providers()]
    for c in shipped_stack.containers:
        spec = actions.action_spec(actions.CREATE, c, shipped_stack.role(c.role), shipped_inventory.network, PLAN,
                                   dns, {})
        argv = " ".join(spec.argv())
        env = dockercli.env_file(c)
        for v in values:
            assert v not in argv, c.name
            assert v not in env, c.name
            assert v not in dockercli.spec_label(c) and v not in (secrets_label(c) or ""), c.name
        assert spec.stdin == (env + "".join(f"{n}={v}\n" for n, v in c.secrets)).encode(), c.name
        assert (spec.secrets, spec.secret_lines) == (secrets_dir(c), len(c.secrets))
        assert c.env == ()  # no shipped container has env of its own: nothing but files


def test_each_shipped_container_gets_exactly_its_own_services_secret_files(shipped_stack, net):
    generated = shipped_stack.generated
    assert generated is not None
    for c in shipped_stack.containers:
        d = DEFINITIONS.get(c.service or "")
        wanted = {name: generated.values[key] for key, name in (d.secret_files if d else ())}
        assert dict(c.secrets) == wanted, c.name
        assert dict(c.generated) == {key: generated.values[key] for key, _ in (d.secret_files if d else ())}
        argv = dockercli.run_argv(c, net, [])
        mounted = f"{secrets_dir(c)}:{SECRETS_MOUNT}:ro" in argv
        assert mounted == bool(c.secrets), c.name  # read-only, and only where there is something to read


def test_every_generated_secret_file_is_named_as_a_secret():
    """A containers.yaml value of the same name overrides one (and is a secret by its name, so a file too)."""
    for d in DEFINITIONS.values():
        for key, name in d.secret_files:
            assert key in GENERATED_KEYS and config.is_secret(name), (d.name, name)
            assert config.ENV_KEY_RE.fullmatch(name), name  # a file name any shell reads as a variable too


def test_a_secret_env_value_becomes_a_file_and_its_path_the_env(cfg):
    cfg.containers["secrets"] = ["LDAP_BIND"]
    cfg.container(1)["env"] = {"DB_PASSWORD": "pw 'with' $(quotes)", "LDAP_BIND": "cn=x", "MODE": "prod"}
    _, st = cfg.load()
    app = st.container("app1")
    assert app.env == (("DB_PASSWORD_FILE", "/run/secrets/DB_PASSWORD"), ("LDAP_BIND_FILE", "/run/secrets/LDAP_BIND"),
                       ("MODE", "prod"))
    assert app.secrets == (("DB_PASSWORD", "pw 'with' $(quotes)"), ("LDAP_BIND", "cn=x"))
    assert app.generated == ()  # not the secrets file's: no fingerprint label
    assert {"pw 'with' $(quotes)", "cn=x"} <= st.secret_values and "prod" not in st.secret_values
    assert "cn=x" not in st.mask("bound as cn=x")


def test_a_changed_secret_value_re_creates_the_container_without_its_value_in_the_spec(cfg):
    cfg.container(1)["env"] = {"API_TOKEN": "first-token-value"}
    _, st = cfg.load()
    before = dockercli.spec_digests(st.container("app1"))
    cfg.container(1)["env"] = {"API_TOKEN": "second-token-value"}
    _, st = cfg.load()
    after = dockercli.spec_digests(st.container("app1"))
    assert {k for k in before if before[k] != after.get(k)} == {"secrets"}  # the env holds only its path
    spec = json.dumps(dockercli.spec(st.container("app1")))
    assert "second-token-value" not in spec and "second-token-value" not in dockercli.spec_label(st.container("app1"))
    assert "secrets" not in dockercli.spec_digests(st.container("dns"))  # none: its spec is as it was before


def test_a_file_variable_beside_its_secret_is_refused(cfg, config_error):
    cfg.container(1)["env"] = {"DB_PASSWORD": "x" * 8, "DB_PASSWORD_FILE": "/elsewhere"}
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].env.DB_PASSWORD_FILE", "reaches the container as a file")
    assert "x" * 8 not in str(e.value)


def test_a_volume_at_the_secrets_folder_is_refused(cfg, config_error):
    cfg.container(1)["env"] = {"DB_PASSWORD": "x" * 8}
    cfg.container(1)["volumes"] = ["/srv/mine:/run/secrets/:ro"]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[1].volumes", "/run/secrets", "mount it elsewhere")
    cfg.container(1).pop("env")
    cfg.load()  # without secrets it is a folder like any other


def test_a_role_without_a_service_gets_no_secret_folder(cfg, net):
    _, st = cfg.load()
    app = st.container("app1")
    assert app.secrets == () and not any(SECRETS_MOUNT in a for a in dockercli.run_argv(app, net, []))
    assert actions.secret_files(replace(app, secrets=(("K", "v"),))) == {"/run/dockstack-secrets/app1/K": "v"}


def test_a_secrets_file_may_hold_keys_an_older_dockstack_made(tmp_path):
    """galera_provision_password (the network account an older dockstack made its databases with) is read without
    complaint and left out; a key nobody ever made is still refused."""
    retired = config.retired_keys(DEFINITIONS.values())
    assert retired and not set(retired) & set(GENERATED_KEYS)
    path = tmp_path / "stack.secrets.yaml"
    path.write_text(yaml.safe_dump({retired[0]: "R" * 32, "redis_password": "K" * 32}))
    got = config.generated_secrets(tmp_path / "stack.yaml", GENERATED_KEYS, retired)
    assert retired[0] not in got.values and got.values["redis_password"] == "K" * 32
    assert got.save() and retired[0] not in yaml.safe_load(path.read_text())  # written again without it
    path.write_text(yaml.safe_dump({"redis_pasword": "K" * 32}))
    with pytest.raises(ConfigError, match="unknown key"):
        config.generated_secrets(tmp_path / "stack.yaml", GENERATED_KEYS, retired)
