# profile::neutron::server: neutron-server's database and keystone (through haproxy), its listen port.
class profile::neutron::server {
  profile::settings { 'neutron-server':
    settings => {
      'connection'   => "mysql+pymysql://neutron@${profile::endpoint('mysql')}/neutron",
      'auth_url'     => "http://${profile::endpoint('keystone')}/v3",
      'bind_port'    => '9696',
    },
  }
}
