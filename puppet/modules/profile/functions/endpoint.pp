# Where a client reaches a balanced service: the first haproxy frontend (hieradata dockstack::frontends)
# and the service's port, as host:port; without haproxy, the first container of the service's role.
function profile::endpoint(String $service) >> String {
  $balanced = lookup('dockstack::balanced', Hash, 'first', {})
  $svc = $balanced[$service]
  if $svc == undef {
    fail("profile::endpoint: ${service} is not a balanced service in containers.yaml (roles[].balance)")
  }
  $frontends = lookup('dockstack::frontends', Array[String], 'first', [])
  $hosts = $frontends ? {
    []      => profile::members($svc['role']),
    default => $frontends,
  }
  if $hosts == [] {
    fail("profile::endpoint: no container serves ${service}")
  }
  "${hosts[0]}:${svc['port']}"
}
