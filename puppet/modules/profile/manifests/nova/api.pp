# profile::nova::api: nova's settings for nova-api, nova-conductor and nova-scheduler: one worker each, keystone
# through the VIP, only the compute API (no metadata API). Not Debian's puppet-module-nova: see profile::keystone.
class profile::nova::api {
  profile::settings { 'nova-api':
    settings => {
      'connection'   => "mysql+pymysql://nova@${profile::endpoint('mysql')}/nova",
      'auth_url'     => "${profile::url('keystone')}/v3",
      'bind_port'    => '8774',
    },
  }
  $authtoken = profile::openstack::authtoken('nova')
  $service_auth = $authtoken.filter |$k, $v| { $k != 'www_authenticate_uri' }  # nova's own login to another API
  profile::openstack::conf { 'nova':
    sections => {
      'DEFAULT'            => { 'enabled_apis' => 'osapi_compute', 'osapi_compute_workers' => '1',
                                'osapi_compute_listen_port' => '8774' },
      'api'                => { 'auth_strategy' => 'keystone' },
      'conductor'          => { 'workers' => '1' },
      'scheduler'          => { 'workers' => '1' },
      'keystone_authtoken' => $authtoken,
      'placement'          => $service_auth,
      # nova asks neutron some things as itself, not as the user (which extensions neutron has, before a server
      # create): without these, keystone refuses its empty login and the create fails with a 500
      'neutron'            => $service_auth,
      'oslo_concurrency'   => { 'lock_path' => '/var/lib/nova/tmp' },
    },
  }
}
