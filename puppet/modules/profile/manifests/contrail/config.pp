# profile::contrail::config: the Contrail API's Cassandra, ZooKeeper and keystone.
class profile::contrail::config {
  $cassandra = profile::service_members('zookeeper').map |$h| { "${h}:9161" }
  $zookeeper = profile::service_members('zookeeper').map |$h| { "${h}:2181" }
  profile::settings { 'contrail-config':
    settings => {
      'cassandra_servers' => $cassandra.join(' '),
      'zk_server_ip'      => $zookeeper.join(','),
      'auth_url'          => "${profile::url('keystone')}/v3",
      'cafile'            => profile::ca_file(),  # keystone's certificate: the stack's CA only ('' without one)
      'listen_port'       => '8082',
    },
  }
}
