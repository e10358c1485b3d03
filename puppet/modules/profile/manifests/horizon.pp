# profile::horizon: horizon's settings snippet, /etc/openstack-dashboard/local_settings.d/_50_dockstack.py (Debian's
# local_settings reads the folder): keystone through the VIP, the API's name as the only host it answers for besides
# the container's own. Its Django SECRET_KEY is not here: the supervisor writes it from the container's secret files.
# Not Debian's puppet-module-horizon: it serves horizon through Apache (puppetlabs-apache) as an init-system
# service; in the container the supervisor runs it under uwsgi.
class profile::horizon {
  profile::settings { 'horizon':
    settings => {
      'keystone_url' => "${profile::url('keystone')}/v3",
      'bind_port'    => profile::endpoint('horizon').split(':')[-1],
    },
  }
  include profile::base
  include profile::trust
  file { ['/etc/openstack-dashboard', '/etc/openstack-dashboard/local_settings.d']:
    ensure => directory,
  }
  file { '/etc/openstack-dashboard/local_settings.d/_50_dockstack.py':
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('profile/horizon.py.epp', {
      'keystone_url' => "${profile::url('keystone')}/v3",
      'region'       => lookup('profile::openstack::region', String, 'first', 'RegionOne'),
      'cafile'       => profile::ca_file(),
    }),
  }
}
