# Where the stack's CA certificate is in a container that is a client of the VIP (hieradata dockstack::ca_file,
# written there by profile::trust): the one file its clients trust for the VIP's certificate (keystone_authtoken's
# cafile, horizon's OPENSTACK_SSL_CACERT, admin-openrc's OS_CACERT), never the whole system bundle; '' when the stack
# has no CA (haproxy terminates no TLS).
function profile::ca_file() >> String {
  lookup('dockstack::ca_cert', String, 'first', '') ? {
    ''      => '',
    default => lookup('dockstack::ca_file', String, 'first', ''),
  }
}
