# profile::glance: glance-api's settings: one worker, keystone through the VIP, images in a file store (a host
# folder of the container, so they outlive it). Not Debian's puppet-module-glance: see profile::keystone.
class profile::glance {
  profile::settings { 'glance':
    settings => {
      'connection' => "mysql+pymysql://glance@${profile::endpoint('mysql')}/glance",
      'auth_url'   => "${profile::url('keystone')}/v3",
      'bind_port'  => '9292',
    },
  }
  profile::openstack::conf { 'glance':
    sections => {
      'DEFAULT'            => { 'bind_host' => '0.0.0.0', 'bind_port' => '9292', 'workers' => '1' },
      'keystone_authtoken' => profile::openstack::authtoken('glance'),
      'paste_deploy'       => { 'flavor' => 'keystone' },
      'glance_store'       => { 'stores' => 'file,http', 'default_store' => 'file',
                                'filesystem_store_datadir' => '/var/lib/glance/images/' },
      'oslo_concurrency'   => { 'lock_path' => '/var/lib/glance/tmp' },
    },
  }
}
