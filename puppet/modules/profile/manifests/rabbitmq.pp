# profile::rabbitmq: the message queue's cluster nodes (the openstack containers).
class profile::rabbitmq {
  profile::settings { 'rabbitmq':
    settings => {
      'cluster_nodes' => profile::members('openstack').join(','),
      'node_port'     => '5672',
    },
  }
}
