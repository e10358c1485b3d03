# profile::zookeeper: ZooKeeper's ensemble (the cassandra containers).
class profile::zookeeper {
  $servers = profile::members('cassandra').map |$h| { "${h}:2888:3888" }
  profile::settings { 'zookeeper':
    settings => {
      'servers'     => $servers.join(','),
      'client_port' => '2181',
    },
  }
}
