# profile::contrail::collector: the analytics collector's Cassandra, Redis and Contrail API servers.
class profile::contrail::collector {
  $cassandra = profile::service_members('zookeeper').map |$h| { "${h}:9042" }
  $api = profile::members('config').map |$h| { "${h}:8082" }
  $redis = profile::service_members('redis').map |$h| { "${h}:6379" }
  profile::settings { 'contrail-collector':
    settings => {
      'cassandra_server_list' => $cassandra.join(' '),
      'api_servers'           => $api.join(' '),
      'redis_server_list'     => $redis.join(' '),
      'http_server_port'      => '8089',
    },
  }
}
