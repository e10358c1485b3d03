# profile::cinder: cinder-api's and cinder-scheduler's settings: one API worker, keystone through the VIP, no volume
# backend yet (no cinder-volume in this role). Not Debian's puppet-module-cinder: see profile::keystone.
class profile::cinder {
  profile::settings { 'cinder':
    settings => {
      'connection' => "mysql+pymysql://cinder@${profile::endpoint('mysql')}/cinder",
      'auth_url'   => "${profile::url('keystone')}/v3",
      'bind_port'  => '8776',
    },
  }
  profile::openstack::conf { 'cinder':
    sections => {
      'DEFAULT'            => { 'auth_strategy' => 'keystone', 'osapi_volume_listen' => '0.0.0.0',
                                'osapi_volume_listen_port' => '8776', 'osapi_volume_workers' => '1' },
      'keystone_authtoken' => profile::openstack::authtoken('cinder'),
      'oslo_concurrency'   => { 'lock_path' => '/var/lib/cinder/tmp' },
    },
  }
}
