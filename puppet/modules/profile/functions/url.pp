# The URL a client reaches a balanced HTTP service on: https when haproxy terminates TLS for it (the stack has a CA:
# hieradata dockstack::ca_cert), else http; then profile::endpoint's host:port.
function profile::url(String $service) >> String {
  $scheme = lookup('dockstack::ca_cert', String, 'first', '') ? {
    ''      => 'http',
    default => 'https',
  }
  "${scheme}://${profile::endpoint($service)}"
}
