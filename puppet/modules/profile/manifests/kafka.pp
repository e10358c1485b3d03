# profile::kafka: Kafka's ZooKeeper connection (the cassandra containers).
class profile::kafka {
  $zookeeper = profile::service_members('zookeeper').map |$h| { "${h}:2181" }
  profile::settings { 'kafka':
    settings => {
      'zookeeper_connect' => $zookeeper.join(','),
      'port'              => '9092',
    },
  }
}
