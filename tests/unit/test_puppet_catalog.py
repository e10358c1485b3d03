"""services.puppet.catalog: what each container's Puppet catalog depends on, and whose digest a change moves (a
template, a hieradata key, a role's classes), on the shipped stack and on small modules of the tests' own."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from dockstack.errors import DockstackError
from dockstack.facts import CATALOG_DIGEST_RE
from dockstack.services import puppet
from dockstack.services.puppet import catalog

DOMAIN = "dockstack.lab"
GALERA = {"galera1", "galera2", "galera3"}


@pytest.fixture
def shipped(shipped_stack):
    """(the shipped stack, the repository's modules, the digests of its containers)."""
    modules = puppet.module_files()
    return shipped_stack, modules, puppet.catalog_digests(shipped_stack, DOMAIN, modules)


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}


def test_every_container_that_asks_for_a_catalog_has_a_digest_of_its_own(shipped):
    stack, _, digests = shipped
    assert set(digests) == {c.name for c in stack.containers if stack.asks_catalog(c)}
    assert all(CATALOG_DIGEST_RE.fullmatch(d) for d in digests.values())  # what the facts take back
    assert len(set(digests.values())) == len(digests)  # each node block names its own node
    assert puppet.catalog_digests(stack, DOMAIN, puppet.module_files()) == digests  # the same inputs, the same


def test_a_line_added_to_the_galera_template_changes_the_galera_nodes_only(shipped):
    stack, modules, digests = shipped
    path = "profile/templates/galera.cnf.epp"
    edited = {**modules, path: modules[path] + "max_connect_errors = 10001\n"}
    assert changed(digests, puppet.catalog_digests(stack, DOMAIN, edited)) == GALERA


def test_a_change_to_a_shared_template_changes_every_container_whose_classes_use_it(shipped):
    stack, modules, digests = shipped
    path = "profile/templates/settings.conf.epp"
    edited = {**modules, path: modules[path] + "# one more line\n"}
    assert changed(digests, puppet.catalog_digests(stack, DOMAIN, edited)) == {
        "openstack", "cassandra", "config", "collector", "control", "webui"}  # profile::settings; galera, redis: no


def test_a_hieradata_key_changes_the_containers_that_look_it_up(shipped):
    """Another container of a role without a service: dockstack::services changes (profile::members reads it), not
    dockstack::members_by_service (galera's, ZooKeeper's, Redis's peers)."""
    stack, modules, digests = shipped
    control = stack.container("control")
    more = dataclasses.replace(stack, containers=(*stack.containers, dataclasses.replace(control, name="control2")))
    after = puppet.catalog_digests(more, DOMAIN, modules)
    assert changed(digests, after) == {"openstack", "config", "collector", "control", "webui", "control2"}
    assert not changed(digests, after) & (GALERA | {"cassandra", "redis"})


def test_another_galera_node_changes_its_peers_digests(shipped):
    """dockstack::members_by_service and dockstack::services gain galera4: the galera nodes (their
    wsrep_cluster_address) and every profile that reads either; Redis's, which looks up neither, not."""
    stack, modules, digests = shipped
    more = dataclasses.replace(stack, containers=(*stack.containers,
                                                  dataclasses.replace(stack.container("galera3"), name="galera4")))
    after = puppet.catalog_digests(more, DOMAIN, modules)
    assert changed(digests, after) == set(after) - {"redis"}


def test_a_roles_classes_change_that_roles_containers_only(shipped):
    stack, modules, digests = shipped
    roles = tuple(dataclasses.replace(r, classes=(*r.classes, "profile::redis")) if r.name == "galera" else r
                  for r in stack.roles)
    assert changed(digests, puppet.catalog_digests(dataclasses.replace(stack, roles=roles), DOMAIN,
                                                   modules)) == GALERA


def with_hieradata(stack, role: str, **data):
    """The stack with roles[role].hieradata set (keys with `__` for `::`)."""
    pairs = tuple(sorted((k.replace("__", "::"), v) for k, v in data.items()))
    return dataclasses.replace(stack, roles=tuple(dataclasses.replace(r, hieradata=pairs) if r.name == role else r
                                                  for r in stack.roles))


def test_a_key_of_a_roles_hieradata_changes_that_roles_containers_only(shipped):
    stack, modules, digests = shipped
    tuned = with_hieradata(stack, "galera", profile__galera__buffer_pool_size="160M")
    assert changed(digests, puppet.catalog_digests(tuned, DOMAIN, modules)) == GALERA
    # a key no class of the role has: in its nodes' files, looked up by none of them
    unused = with_hieradata(stack, "galera", profile__redis__port=6380)
    assert changed(digests, puppet.catalog_digests(unused, DOMAIN, modules)) == set()


def test_each_agent_container_gets_its_own_hieradata_file_looked_up_before_common(shipped):
    stack, _, _ = shipped
    tuned = with_hieradata(stack, "galera", profile__galera__buffer_pool_size="160M", app__list=(1, "b"))
    files = puppet.puppet_files(tuned, tuned.container("puppet"), DOMAIN)
    nodes = {k.rpartition("/")[2] for k in files if "/data/nodes/" in k}
    assert nodes == {f"{c.name}.{DOMAIN}.yaml" for c in stack.containers if stack.asks_catalog(c)}
    text = files[f"{puppet.ENVIRONMENT}/data/nodes/galera1.{DOMAIN}.yaml"]
    assert yaml.safe_load(text) == {"profile::galera::buffer_pool_size": "160M", "app::list": [1, "b"]}
    assert yaml.safe_load(files[f"{puppet.ENVIRONMENT}/data/nodes/redis.{DOMAIN}.yaml"]) == {}  # a key taken out goes
    levels = yaml.safe_load(files[f"{puppet.ENVIRONMENT}/hiera.yaml"])["hierarchy"]
    assert [x["path"] for x in levels] == ["nodes/%{trusted.certname}.yaml", "common.yaml"]


def test_galeras_catalog_reaches_its_class_its_template_and_what_it_calls(shipped):
    _, modules, _ = shipped
    found = catalog.inputs(("profile::galera",), modules)
    assert found.files == {"profile/manifests/galera.pp", "profile/templates/galera.cnf.epp",
                           "profile/manifests/base.pp", "profile/functions/service_members.pp"}
    assert found.keys == {"dockstack::members_by_service"}
    assert found.looks_up("profile::galera::buffer_pool_size") and not found.looks_up("profile::redis::port")


# --- small modules of the tests' own -------------------------------------------------------------------------

MODULES = {
    "app/manifests/init.pp": "class app { include app::conf\n  $x = app::peers() }\n",
    "app/manifests/conf.pp": "# written from hieradata, see app::old (a comment: no code)\n"
                             "class app::conf(String $port = '1') {\n"
                             "  file { '/etc/app.conf': content => epp('app/app.conf.epp', {'p' => $port}) }\n}\n",
    "app/functions/peers.pp": "function app::peers() >> Array { lookup('app::peers', Array, 'first', []) }\n",
    "app/templates/app.conf.epp": "<%- | $p | -%>\n# port <%= $p %> (profile::nothing here: text)\nport = <%= $p %>\n",
    "app/templates/other.epp": "unused\n",
    "db/manifests/init.pp": "class db { file { '/etc/db': content => template('db/db.erb') } }\n",
    "db/templates/db.erb": "<%= scope.call_function('lookup', ['anything']) %>\n",
}
HIERA = {"common.yaml": "app::peers: [a, b]\napp::conf::port: '2'\nother::key: 1\n"}


def digest(modules=MODULES, hieradata=HIERA, classes=("app",), node="node 'n' { include app }") -> str:
    return catalog.digest(node, classes, modules, "version: 5\n", hieradata)


def test_a_class_reaches_what_it_includes_calls_and_reads_and_no_comment_or_template_text():
    found = catalog.inputs(("app",), MODULES)
    assert found.files == {"app/manifests/init.pp", "app/manifests/conf.pp", "app/functions/peers.pp",
                           "app/templates/app.conf.epp"}
    assert found.keys == {"app::peers"} and found.looks_up("app::conf::port")
    assert not found.looks_up("other::key")


def test_only_what_a_class_reaches_and_looks_up_moves_its_digest():
    base = digest()
    assert digest(modules={**MODULES, "app/templates/other.epp": "changed\n"}) == base
    assert digest(hieradata={"common.yaml": HIERA["common.yaml"].replace("other::key: 1", "other::key: 2")}) == base
    assert digest(modules={**MODULES, "app/templates/app.conf.epp": "port = 3\n"}) != base
    assert digest(hieradata={"common.yaml": HIERA["common.yaml"].replace("[a, b]", "[a, c]")}) != base
    assert digest(hieradata={"common.yaml": HIERA["common.yaml"].replace("'2'", "'3'")}) != base  # a class parameter
    assert digest(node="node 'n' { include app, db }") != base


def test_a_name_of_a_shipped_module_that_resolves_to_no_file_brings_in_that_whole_module():
    modules = {**MODULES, "app/manifests/init.pp": "class app { app::missing { 'x': } }\n"}
    assert catalog.inputs(("app",), modules).files == {p for p in modules if p.startswith("app/")}


def test_a_template_or_lookup_that_is_not_a_plain_string_brings_in_everything_it_could_read():
    reads = {**MODULES, "app/manifests/init.pp": "class app { $t = 'x'\n  notify { epp(\"app/${t}.epp\"): } }\n"}
    assert catalog.inputs(("app",), reads).files == set(reads)
    looks = {**MODULES, "app/functions/peers.pp": "function app::peers() { lookup(\"app::${x}\") }\n"}
    assert catalog.inputs(("app",), looks).keys is None
    assert digest(modules=looks, hieradata={"common.yaml": "other::key: 2\n"}) != digest(
        modules=looks, hieradata={"common.yaml": "other::key: 3\n"})


def test_ruby_data_interpolation_and_a_modules_own_hiera_layer_count_whole():
    ruby = catalog.inputs(("db",), MODULES)
    assert ruby.files == set(MODULES) and ruby.keys is None  # an ERB template may read and look up anything
    interpolated = {"common.yaml": "app::peers: ['%{lookup(\"other::key\")}']\nother::key: 1\n"}
    assert digest(hieradata=interpolated) != digest(hieradata={"common.yaml": interpolated["common.yaml"]
                                                               .replace("other::key: 1", "other::key: 2")})
    layered = {**MODULES, "app/hiera.yaml": "version: 5\n", "app/data/common.yaml": "app::conf::port: '4'\n"}
    assert {"app/hiera.yaml", "app/data/common.yaml"} <= catalog.inputs(("app",), layered).files


def test_a_variable_of_another_class_brings_in_that_class():
    modules = {**MODULES, "app/manifests/init.pp": "class app { $p = $app::conf::port }\n"}
    assert "app/manifests/conf.pp" in catalog.inputs(("app",), modules).files


def test_a_module_file_name_that_is_not_plain_is_refused_naming_it(tmp_path):
    (tmp_path / "app" / "manifests").mkdir(parents=True)
    (tmp_path / "app" / "manifests" / "init.pp").write_text("class app {}\n")
    assert puppet.module_files(tmp_path) == {"app/manifests/init.pp": "class app {}\n"}
    (tmp_path / "app" / "manifests" / "bad name.pp").write_text("")
    with pytest.raises(DockstackError, match=r"bad name\.pp: not a file name"):
        puppet.module_files(tmp_path)


def test_the_modules_folder_may_be_another_one(tmp_path, monkeypatch):
    (tmp_path / "app" / "manifests").mkdir(parents=True)
    (tmp_path / "app" / "manifests" / "init.pp").write_text("class app {}\n")
    monkeypatch.setenv("DOCKSTACK_PUPPET_MODULES", str(tmp_path))
    assert puppet.module_files() == {"app/manifests/init.pp": "class app {}\n"}
    monkeypatch.setenv("DOCKSTACK_PUPPET_MODULES", str(tmp_path / "none"))
    with pytest.raises(DockstackError, match=r"DOCKSTACK_PUPPET_MODULES=.*is no folder"):
        puppet.module_files()
