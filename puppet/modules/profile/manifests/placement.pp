# profile::placement: the placement API's settings (nova-scheduler asks it for hosts with room; a control plane has
# none, so a server create ends in `No valid host was found`): keystone through the VIP, its database on Galera (the
# URL with its password is written by the container's supervisor). Not Debian's puppet-module-placement: see
# profile::keystone.
class profile::placement {
  profile::settings { 'placement':
    settings => {
      'connection' => "mysql+pymysql://placement@${profile::endpoint('mysql')}/placement",
      'auth_url'   => "${profile::url('keystone')}/v3",
      'bind_port'  => '8778',
    },
  }
  profile::openstack::conf { 'placement':
    sections => {
      'api'                => { 'auth_strategy' => 'keystone' },
      'keystone_authtoken' => profile::openstack::authtoken('placement'),
    },
  }
}
