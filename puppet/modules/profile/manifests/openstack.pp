# profile::openstack: what the openstack container's supervisor needs besides its secrets, in
# /etc/dockstack/openstack.env: where the databases are (MariaDB through haproxy, the VIP's name) and where clients
# reach each API (the service catalog's endpoints, https when haproxy terminates TLS: then the stack's CA is trusted
# first, profile::trust). The supervisor waits for this file before it starts anything.
class profile::openstack (
  String $region = 'RegionOne',
) {
  include profile::base
  include profile::trust  # before the settings: the supervisor starts the services once they are there
  $settings = {
    'region'    => $region,
    'scheme'    => profile::url('keystone').split(':')[0],  # https when haproxy terminates TLS (the stack's CA)
    'mysql'     => profile::endpoint('mysql'),
    'keystone'  => profile::endpoint('keystone'),
    'glance'    => profile::endpoint('glance'),
    'placement' => profile::endpoint('placement'),
    'nova'      => profile::endpoint('nova-api'),
    'neutron'   => profile::endpoint('neutron-server'),
    'cinder'    => profile::endpoint('cinder'),
    'horizon'   => profile::endpoint('horizon'),
  }
  file { '/etc/dockstack/openstack.env':
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('profile/openstack.env.epp', { 'settings' => $settings }),
    require => Class['profile::trust'],
  }
}
