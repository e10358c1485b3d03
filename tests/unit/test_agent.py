"""dockstack.actions: the Puppet agent's part of an action: its summary parsed, its failure reported and undone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dockstack import actions, agent

# last_run_summary.yaml as Debian's puppet-agent 7.23 writes it (from a lab run), with the script's prefix
SUMMARY = """---
version:
  config: 1795625172
  puppet: 7.23.0
application:
  run_mode: agent
  initial_environment: production
  converged_environment: production
resources:
  changed: 2
  corrective_change: 0
  failed: 0
  failed_to_restart: 0
  out_of_sync: 2
  restarted: 0
  scheduled: 0
  skipped: 0
  total: 9
time:
  catalog_application: 0.023547081000288017
  total: 34.870179758
  last_run: 1795625173
changes:
  total: 2
events:
  failure: 0
  success: 2
  total: 2
"""


def agent_lines(code: int, summary: str = SUMMARY, errors: tuple[str, ...] = (), ms: int | None = None) -> list[str]:
    lines = [f"agent exit {code}", *(f"agent error {e}" for e in errors)]
    lines += [f"agent summary {x}" for x in summary.splitlines()]
    return lines + ([f"agent ms {ms}"] if ms is not None else [])


def test_a_run_that_changed_things():
    run = agent.parse_agent(agent_lines(2, ms=9213))
    assert run == agent.AgentRun(2, 2, 0, 9, (), 9.213)
    assert run.ok


def test_a_second_run_with_nothing_to_do():
    run = agent.parse_agent(agent_lines(0, SUMMARY.replace("changed: 2", "changed: 0")))
    assert (run.exit_code, run.changed, run.failed, run.ok) == (0, 0, 0, True)


def test_failed_resources_fail_even_with_a_good_exit_code():
    run = agent.parse_agent(agent_lines(2, SUMMARY.replace("  failed: 0", "  failed: 1")))
    assert run.failed == 1 and not run.ok


def test_catalog_failure_has_no_summary_and_keeps_the_error_lines():
    err = ("Could not retrieve catalog from remote server: Error 500 on SERVER: Server Error: Evaluation Error: "
           "boom (file: /x/boom.pp, line: 2, column: 3) on node galera.dockstack.lab")
    run = agent.parse_agent(agent_lines(1, "", (err, "Could not retrieve catalog; skipping run")))
    assert (run.exit_code, run.failed, run.total) == (1, None, None)
    assert run.errors == (err, "Could not retrieve catalog; skipping run")
    assert not run.ok


def test_the_events_failure_count_is_not_the_resources_one():
    text = SUMMARY.replace("  failure: 0", "  failure: 3")
    assert agent.summary_section(text.splitlines(), "resources")["failed"] == 0
    assert agent.summary_section(text.splitlines(), "events") == {"failure": 3, "success": 2, "total": 2}


def test_no_agent_lines_means_no_agent_ran():
    assert agent.parse_agent(["started", "link 2: eth0", "ready"]) is None


def test_parse_action_carries_the_agent_run():
    text = "\n".join(["started", "link 5: eth0@if6: <UP> mtu 1450 link/ether 02:42:0a:64:00:05 brd ff",
                      "addr 5: eth0 inet 10.100.0.5/24 brd 10.100.0.255", *agent_lines(2, ms=1500), "ready"])
    res = actions.parse_action(text)
    assert res.ready and res.failed_step is None and res.ip == "10.100.0.5"
    assert res.agent is not None and res.agent.changed == 2 and res.agent.seconds == 1.5


def test_parse_action_agent_failure_names_the_step_and_says_the_errors():
    text = "\n".join(["started", *agent_lines(1, "", ("boom on node x",)), "failed puppet agent",
                      "said boom on node x", "said exit code 1, unknown failed resource(s)"])
    res = actions.parse_action(text)
    assert res.failed_step == "puppet agent" and not res.ready
    assert res.said == "boom on node x; exit code 1, unknown failed resource(s)"


# --- the action script's agent step, run for real with a fake docker -----------------------------------


@pytest.fixture
def fake_docker(tmp_path: Path) -> Path:
    """A `docker` whose `exec` prints what $AGENT_OUT holds and whose other commands log themselves."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text('#!/bin/sh\nif [ "$1" = exec ]; then cat "$AGENT_OUT"; exit 0; fi\n'
                                    'echo "$@" >> "$DOCKER_LOG"\n')
    (bin_dir / "docker").chmod(0o755)
    return bin_dir


def agent_step(tmp_path: Path, fake_docker: Path, lines: list[str]) -> subprocess.CompletedProcess[str]:
    """The agent part of ACTION_SCRIPT, cut out between its markers and run with sh and the fake docker."""
    script = actions.ACTION_SCRIPT
    part = script[script.rindex('if [ -n "$agent_server" ]'):script.index('if [ -n "$check" ]')]  # the last: the run
    fail = next(x for x in script.splitlines() if x.startswith("fail()"))
    (tmp_path / "agent.out").write_text("\n".join(lines) + "\n")
    cid = tmp_path / "cid"
    prelude = (f'{fail}\nundo() {{ echo "undo $(cat {cid})"; }}\ncid={cid}\n'
               'name=web agent_server=p certname=w agent=x challenge=c agent_ca=ca\n')
    env = {"PATH": f"{fake_docker}:/usr/bin:/bin", "AGENT_OUT": str(tmp_path / "agent.out"),
           "DOCKER_LOG": str(tmp_path / "docker.log")}
    return subprocess.run(["sh", "-c", prelude + part + "echo ready\n"], capture_output=True, text=True, env=env)


def test_script_passes_a_good_run_on(tmp_path, fake_docker):
    out = agent_step(tmp_path, fake_docker, agent_lines(2))
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "ready"
    assert agent.parse_agent(out.stdout.splitlines()).ok


@pytest.mark.parametrize(("code", "summary"), [(1, ""), (4, SUMMARY.replace("  failed: 0", "  failed: 1")),
                                               (2, SUMMARY.replace("  failed: 0", "  failed: 1")), (0, "")])
def test_script_fails_a_bad_run_and_undoes_a_create(tmp_path, fake_docker, code, summary):
    (tmp_path / "cid").write_text("abc123")  # this run created the container
    out = agent_step(tmp_path, fake_docker, agent_lines(code, summary, ("the agent's own words",)))
    assert out.returncode == 1
    res = actions.parse_action(out.stdout)
    assert res.failed_step == "puppet agent" and "the agent's own words" in res.said
    assert f"exit code {code}" in res.said
    assert "undo abc123" in out.stdout


def test_script_stops_a_started_container_whose_run_failed(tmp_path, fake_docker):
    out = agent_step(tmp_path, fake_docker, agent_lines(1, ""))
    assert out.returncode == 1 and "undo" not in out.stdout
    assert (tmp_path / "docker.log").read_text() == "stop web\n"


# --- AGENT_SCRIPT itself, with a fake `puppet` -------------------------------------------------------------


@pytest.fixture
def fake_puppet(tmp_path: Path) -> Path:
    """A `puppet` that logs its arguments, says $SAY, writes $SUMMARY to --lastrunfile and exits $CODE."""
    bin_dir = tmp_path / "pbin"
    bin_dir.mkdir()
    (bin_dir / "puppet").write_text(
        '#!/bin/sh\necho "$@" > "$ARGS_LOG"\nprintf "%s\\n" "$SAY"\n'
        'while [ $# -gt 0 ]; do\n'
        '  if [ "$1" = --lastrunfile ] && [ -n "$SUMMARY" ]; then printf "%s" "$SUMMARY" > "$2"; fi\n'
        '  if [ "$1" = --csr_attributes ] && [ -n "$CSR_LOG" ]; then cat "$2" > "$CSR_LOG"; '
        'stat -c %a "$2" >> "$CSR_LOG"; fi; shift\n'
        'done\nexit "$CODE"\n')
    (bin_dir / "puppet").chmod(0o755)
    return bin_dir


CA = "-----BEGIN CERTIFICATE-----\nMIIBpinned==\n-----END CERTIFICATE-----"
CHALLENGE = "Challenge0123456789abcdef"


def agent_script(tmp_path: Path, fake_puppet: Path, code: int, summary: str, say: str, ca: str = CA,
                 challenge: str = CHALLENGE) -> list[str]:
    """AGENT_SCRIPT as action.sh runs it: the challenge line and the CA on standard input."""
    env = {"PATH": f"{fake_puppet}:/usr/bin:/bin", "ARGS_LOG": str(tmp_path / "args"), "CODE": str(code),
           "SUMMARY": summary, "SAY": say, "CSR_LOG": str(tmp_path / "csr")}
    out = subprocess.run(["sh", "-c", agent.AGENT_SCRIPT, "sh", "puppet.lab", "web.lab", str(tmp_path / "agent"),
                          "8140", "0", str(tmp_path / "facter.conf")],
                         input=f"{challenge}\n{ca}\n", capture_output=True, text=True, env=env, check=True)
    return out.stdout.splitlines()


def test_agent_script_reports_exit_code_errors_and_summary(tmp_path, fake_puppet):
    lines = agent_script(tmp_path, fake_puppet, 2, SUMMARY, "Notice: Applied catalog\nError: one\nError: two")
    run = agent.parse_agent(lines)
    assert run == agent.AgentRun(2, 2, 0, 9, ("Error: one", "Error: two"), None)  # its own lines
    args = (tmp_path / "args").read_text().split()
    assert args[:2] == ["agent", "--onetime"] and "--detailed-exitcodes" in args
    assert args[args.index("--server") + 1] == "puppet.lab" and args[args.index("--certname") + 1] == "web.lab"
    assert args[args.index("--ssldir") + 1] == f"{tmp_path}/agent/ssl"
    assert "--http_keepalive_timeout" in args and "--waitforcert" in args
    # facter without the augeas facts (their lenses: 2 s of every run), in the file the container's facter reads
    assert '  blocklist : [ "augeas" ],' in (tmp_path / "facter.conf").read_text().splitlines()


def test_agent_script_pins_the_given_ca_and_keeps_the_ssldir_while_it_stays(tmp_path, fake_puppet):
    ssl = tmp_path / "agent" / "ssl"
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "last_run_summary.yaml").write_text(SUMMARY)  # from an earlier run
    run = agent.parse_agent(agent_script(tmp_path, fake_puppet, 1, "", "Error: no catalog"))
    assert (run.exit_code, run.total, run.errors) == (1, None, ("Error: no catalog",))  # no old summary
    assert (ssl / "certs" / "ca.pem").read_text() == CA + "\n"  # the CA it was given: never one from the network
    (ssl / "private_keys").mkdir()
    (ssl / "private_keys" / "web.lab.pem").write_text("its key")
    agent_script(tmp_path, fake_puppet, 0, SUMMARY, "")  # the same CA: its key and certificate stay
    assert (ssl / "private_keys" / "web.lab.pem").read_text() == "its key"
    other = CA.replace("pinned", "another")  # a re-created server: the old key and certificate go
    agent_script(tmp_path, fake_puppet, 0, SUMMARY, "", ca=other)
    assert not (ssl / "private_keys").exists() and (ssl / "certs" / "ca.pem").read_text() == other + "\n"
    args = (tmp_path / "args").read_text().split()
    assert args[args.index("--ssldir") + 1] == str(ssl)


def test_agent_script_puts_the_challenge_in_the_request_only_while_the_agent_runs(tmp_path, fake_puppet):
    agent_script(tmp_path, fake_puppet, 2, SUMMARY, "")
    given, mode = (tmp_path / "csr").read_text().rsplit("\n", 2)[:2]
    assert given == f'custom_attributes:\n  1.2.840.113549.1.9.7: "{CHALLENGE}"' and mode == "600"
    assert not (tmp_path / "agent" / "csr_attributes.yaml").exists()  # gone after the run


@pytest.mark.parametrize(("ca", "challenge", "said"), [
    ("", CHALLENGE, "no CA certificate was given to pin"),
    ("not a certificate", CHALLENGE, "no CA certificate was given to pin"),
    (CA, "", "no CSR challenge was given"),
    (CA, "has space", "no CSR challenge was given"),
    (CA, 'q"uote', "no CSR challenge was given"),
])
def test_agent_script_refuses_to_run_without_a_ca_and_a_clean_challenge(tmp_path, fake_puppet, ca, challenge, said):
    run = agent.parse_agent(agent_script(tmp_path, fake_puppet, 0, SUMMARY, "", ca=ca, challenge=challenge))
    assert not run.ok and said in run.errors[0]
    assert not (tmp_path / "args").exists()  # the agent never ran


def test_agent_script_waits_for_the_server_to_accept_connections(tmp_path, fake_puppet):
    """A server that runs but does not listen yet (it still starts) is waited for: the agent runs once the
    port accepts; with nothing listening within the wait, the run fails and says why, without the agent."""
    import socket

    env = {"PATH": f"{fake_puppet}:/usr/bin:/bin", "ARGS_LOG": str(tmp_path / "args"), "CODE": "0",
           "SUMMARY": SUMMARY, "SAY": ""}
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]  # bound, not listening: connections are refused
    try:
        proc = subprocess.Popen(["sh", "-c", agent.AGENT_SCRIPT, "sh", "127.0.0.1", "web.lab",
                                 str(tmp_path / "agent"), str(port), "60",
                                 str(tmp_path / "facter.conf")], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env)
        proc.stdin.write(f"{CHALLENGE}\n{CA}\n")
        proc.stdin.close()
        assert not (tmp_path / "args").exists()  # still waiting: no agent yet
        probe.listen()
        out = proc.stdout.read()
        proc.wait(timeout=60)
        assert agent.parse_agent(out.splitlines()).ok and (tmp_path / "args").exists()
    finally:
        probe.close()
    refused = subprocess.run(["sh", "-c", agent.AGENT_SCRIPT, "sh", "127.0.0.1", "web.lab",
                              str(tmp_path / "agent2"), str(port), "1",
                              str(tmp_path / "facter.conf")], input=f"{CHALLENGE}\n{CA}\n",
                             capture_output=True, text=True, env=env)
    run = agent.parse_agent(refused.stdout.splitlines())
    assert not run.ok and "does not accept connections on port" in run.errors[0]
    assert not (tmp_path / "agent2").exists()  # the agent never ran
