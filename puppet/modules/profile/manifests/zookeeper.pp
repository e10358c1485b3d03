# profile::zookeeper: ZooKeeper's real configuration, from dockstack's hieradata: zoo.cfg with the ensemble (the
# containers of service zookeeper, whatever their role is called, by DNS name, in config order: the Nth is server.N), the client port, the data folder
# (the host's, mounted by dockstack) and the four-letter words dockstack's readiness check asks (ZooKeeper 3.5+
# answers none that are not whitelisted); and this node's myid in the data folder. One member runs standalone.
#
# The container's supervisor (dockstack's templates/zookeeper/entrypoint.sh.j2) starts ZooKeeper once zoo.cfg
# exists, so myid is written first. Written here rather than with Debian's puppet-module-deric-zookeeper, which
# installs ZooKeeper and manages it as an init-system service: a container has no init system.
class profile::zookeeper (
  Integer[1, 65535] $client_port = 2181,
  String $data_dir = '/var/lib/zookeeper',
  Array[String] $four_letter_words = ['ruok', 'srvr'],
  Integer $tick_time = 2000,
) {
  include profile::base
  $members = profile::service_members('zookeeper')
  $position = $members.index |$m| { $m == $trusted['certname'] }
  if $position =~ Undef {
    fail("profile::zookeeper: ${trusted['certname']} is not a member of the zookeeper service (${members.join(', ')})")
  }
  file { '/etc/zookeeper/conf_dockstack':
    ensure => directory,
    owner  => 'root',
    group  => 'root',
    mode   => '0755',
  }
  file { "${data_dir}/myid":
    ensure  => file,
    owner   => 'zookeeper',
    group   => 'zookeeper',
    mode    => '0644',
    content => "${$position + 1}\n",
  }
  file { '/etc/zookeeper/conf_dockstack/zoo.cfg':
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    require => File["${data_dir}/myid"],
    content => epp('profile/zoo.cfg.epp', {
      'members'     => $members,
      'client_port' => $client_port,
      'data_dir'    => $data_dir,
      'words'       => $four_letter_words,
      'tick_time'   => $tick_time,
    }),
  }
}
