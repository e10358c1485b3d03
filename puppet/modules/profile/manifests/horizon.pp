# profile::horizon: horizon's keystone (through haproxy) and listen port.
class profile::horizon {
  profile::settings { 'horizon':
    settings => {
      'keystone_url' => "http://${profile::endpoint('keystone')}/v3",
      'bind_port'    => '80',
    },
  }
}
