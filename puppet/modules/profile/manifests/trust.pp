# profile::trust: the stack's CA (hieradata dockstack::ca_cert, the certificate only) in its own file
# (profile::ca_file), which the OpenStack services, horizon and admin-openrc pin for the VIP, and through it in the
# container's system trust store, so any other client in it (curl, a python script) verifies haproxy's HTTPS frontends
# too. Nothing when the stack has no CA.
class profile::trust {
  $ca = lookup('dockstack::ca_cert', String, 'first', '')
  $path = profile::ca_file()
  if $ca != '' and $path != '' {
    file { $path:
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
