# profile::trust: the stack's CA (hieradata dockstack::ca_cert, the certificate only) in the container's system trust
# store, so every client in it (python-requests, the openstack CLI, curl) verifies haproxy's HTTPS frontends. Nothing
# when the stack has no CA.
class profile::trust {
  $ca = lookup('dockstack::ca_cert', String, 'first', '')
  if $ca != '' {
    file { '/usr/local/share/ca-certificates/dockstack-stack.crt':
      ensure  => file,
      owner   => 'root',
      group   => 'root',
      mode    => '0644',
      content => $ca,
      notify  => Exec['dockstack update-ca-certificates'],
    }
    exec { 'dockstack update-ca-certificates':
      command     => '/usr/sbin/update-ca-certificates --fresh',
      refreshonly => true,
    }
  }
}
