# profile::cassandra: Cassandra's seeds (the cassandra containers) and its client port.
class profile::cassandra {
  profile::settings { 'cassandra':
    settings => {
      'seeds'                 => profile::service_members('zookeeper').join(','),
      'native_transport_port' => '9042',
    },
  }
}
