# profile::glance: glance's database and keystone (through haproxy), its listen port.
class profile::glance {
  profile::settings { 'glance':
    settings => {
      'connection'   => "mysql+pymysql://glance@${profile::endpoint('mysql')}/glance",
      'auth_url'     => "http://${profile::endpoint('keystone')}/v3",
      'bind_port'    => '9292',
    },
  }
}
