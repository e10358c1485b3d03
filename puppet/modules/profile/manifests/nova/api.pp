# profile::nova::api: nova-api's database and keystone (through haproxy), its listen port.
class profile::nova::api {
  profile::settings { 'nova-api':
    settings => {
      'connection'   => "mysql+pymysql://nova@${profile::endpoint('mysql')}/nova",
      'auth_url'     => "http://${profile::endpoint('keystone')}/v3",
      'bind_port'    => '8774',
    },
  }
}
