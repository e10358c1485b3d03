# profile::rabbitmq: rabbitmq-server's settings in the openstack container: its node name (rabbit@localhost: the
# services reach their own container's broker, so no cluster and no DNS at boot) and where it listens: AMQP (5672),
# Erlang distribution (25672, what rabbitmqctl talks to) and epmd (4369) on 127.0.0.1 only, the only address
# anything uses them on (nothing else on the segment may reach the broker or its Erlang node). The user the
# services log in as and its password are not here: the supervisor writes them from the container's secret files
# (/etc/rabbitmq/conf.d/90-dockstack-secrets.conf). Not Debian's puppet-module-puppetlabs-rabbitmq: it manages the
# server as an init-system service and its users through Puppet resources whose passwords reach the catalog.
class profile::rabbitmq {
  profile::settings { 'rabbitmq':
    settings => {
      'cluster_nodes' => profile::service_members('openstack').join(','),
      'node_port'     => '5672',
    },
  }
  include profile::base
  file { ['/etc/rabbitmq', '/etc/rabbitmq/conf.d']:
    ensure => directory,
  }
  file { '/etc/rabbitmq/rabbitmq-env.conf':
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => @(ENV),
      # written by Puppet (profile::rabbitmq)
      NODENAME=rabbit@localhost
      SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
      export ERL_EPMD_ADDRESS=127.0.0.1
      | ENV
  }
  file { '/etc/rabbitmq/conf.d/50-dockstack.conf':
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => "# written by Puppet (profile::rabbitmq)\nlisteners.tcp.default = 127.0.0.1:5672\n",
  }
}
