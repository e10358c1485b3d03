# profile::cinder: cinder's database and keystone (through haproxy), its listen port.
class profile::cinder {
  profile::settings { 'cinder':
    settings => {
      'connection'   => "mysql+pymysql://cinder@${profile::endpoint('mysql')}/cinder",
      'auth_url'     => "http://${profile::endpoint('keystone')}/v3",
      'bind_port'    => '8776',
    },
  }
}
