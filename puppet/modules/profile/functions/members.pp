# The DNS names of a role's configured containers (hieradata dockstack::services), in config order.
function profile::members(String $role) >> Array[String] {
  $services = lookup('dockstack::services', Hash, 'first', {})
  $services[$role] ? {
    undef   => [],
    default => $services[$role].map |$m| { $m['fqdn'] },
  }
}
