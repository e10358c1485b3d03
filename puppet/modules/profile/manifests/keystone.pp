# profile::keystone: keystone's database (through haproxy) and listen port.
class profile::keystone {
  profile::settings { 'keystone':
    settings => {
      'connection' => "mysql+pymysql://keystone@${profile::endpoint('mysql')}/keystone",
      'bind_port'  => '5000',
    },
  }
}
