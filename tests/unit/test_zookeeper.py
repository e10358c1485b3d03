"""service: zookeeper: the container's mounts and command, its rendered supervisor and four-letter-word client,
the files the executor writes, Puppet's profile, and the shipped cassandra role."""

from __future__ import annotations

from dockstack.config import ROOT
from dockstack.dockercli import run_argv
from dockstack.services import registry, service_dir
from dockstack.services import zookeeper as zookeeper_service
from dockstack.services.base import Context

PROFILE = ROOT / "puppet" / "modules" / "profile"


def test_run_argv_mounts_the_folder_and_the_data_and_runs_the_supervisor(container, net):
    zk = container("cassandra", role="cassandra", service="zookeeper", image="dockstack/zookeeper:bookworm")
    argv = run_argv(zk, net, ["10.100.0.2"])
    assert service_dir(zk) == "/var/lib/dockstack/zookeeper/cassandra"
    i = argv.index("/var/lib/dockstack/zookeeper/cassandra:/var/lib/dockstack/zookeeper:ro")
    assert argv[i - 1] == "--volume"
    j = argv.index("/var/lib/dockstack/zookeeper/cassandra/data:/var/lib/zookeeper")
    assert argv[j - 1] == "--volume"
    assert argv[-3:] == ["dockstack/zookeeper:bookworm", "sh", "/var/lib/dockstack/zookeeper/entrypoint"]
    assert "--cap-add" not in argv and "--stop-timeout" not in argv


def test_run_argv_galera_keeps_its_data_and_stop_timeout(container, net):
    db = container("galera1", role="galera", service="galera")
    argv = run_argv(db, net, ["10.100.0.2"])
    assert "/var/lib/dockstack/galera/galera1/data:/var/lib/mysql" in argv
    assert argv[argv.index("--stop-timeout") + 1] == "60"


def test_rendered_supervisor_waits_for_puppets_zoo_cfg_then_runs_zookeeper_in_the_foreground():
    entry = zookeeper_service.render_file("entrypoint")
    assert f"cfg={zookeeper_service.CFG}" in entry and "data=/var/lib/zookeeper" in entry
    assert entry.index('until [ -s "$cfg" ]') < entry.index("QuorumPeerMain")
    assert "setpriv --reuid=zookeeper --regid=zookeeper" in entry  # not as root
    assert "-Xmx128m" in entry and "-Dzookeeper.root.logger=INFO,CONSOLE" in entry  # small heap; docker logs
    assert 'QuorumPeerMain "$cfg" &' in entry and 'kill -TERM "$child"' in entry  # SIGTERM passed on
    assert "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar" in entry


def test_rendered_ask_sends_only_whitelisted_words_to_the_client_port():
    ask = zookeeper_service.render_file("ask")
    assert "  ruok|srvr) ;;" in ask and "exit 2" in ask
    assert "/dev/tcp/127.0.0.1/2181" in ask and "timeout 2 cat" in ask


def test_the_definition_writes_the_supervisor_the_client_and_the_data_folder(container, shipped_stack, net):
    zk = container("cassandra", role="cassandra", service="zookeeper")
    d = registry.definition(zk)
    files = d.files(Context(shipped_stack, net, ("10.100.0.2",), registry.DEFINITIONS), zk)
    assert files == {"entrypoint": zookeeper_service.render_file("entrypoint"),
                     "ask": zookeeper_service.render_file("ask")}
    assert d.folders(zk) == ("data",)
    assert "--volume" not in d.volumes(zk) and d.volumes(zk) == [
        "/var/lib/dockstack/zookeeper/cassandra:/var/lib/dockstack/zookeeper:ro",
        "/var/lib/dockstack/zookeeper/cassandra/data:/var/lib/zookeeper"]


def test_profile_writes_zoo_cfg_where_the_supervisor_waits_and_myid_first():
    pp = (PROFILE / "manifests" / "zookeeper.pp").read_text()
    assert f"file {{ '{zookeeper_service.CFG}':" in pp
    assert 'require => File["${data_dir}/myid"]' in pp  # ZooKeeper never starts before its myid exists
    assert "$client_port = 2181" in pp and "['ruok', 'srvr']" in pp
    assert f"$client_port = {zookeeper_service.CLIENT_PORT}" in pp
    assert str(list(zookeeper_service.WORDS)).replace('"', "'") in pp
    epp = (PROFILE / "templates" / "zoo.cfg.epp").read_text()
    for line in ("dataDir=<%= $data_dir %>", "clientPort=<%= $client_port %>",
                 "4lw.commands.whitelist=<%= $words.join(',') %>", "server.<%= $i + 1 %>=<%= $m %>:2888:3888"):
        assert line in epp


def test_shipped_cassandra_role_runs_zookeeper(shipped_stack):
    role = shipped_stack.role("cassandra")
    assert role.service == "zookeeper" and "profile::zookeeper" in role.classes
    assert role.check == 'test "$(bash /var/lib/dockstack/zookeeper/ask ruok)" = imok'
    assert role.check_timeout >= 60
    for c in shipped_stack.of_role("cassandra"):
        assert c.image == "dockstack/zookeeper:bookworm" and c.service == "zookeeper"
    image = shipped_stack.image("dockstack/zookeeper:bookworm")
    assert image is not None and {"zookeeper", "puppet-agent"} <= set(image.packages)
