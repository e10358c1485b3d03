# profile::galera: MariaDB's wsrep settings for a Galera node, from dockstack's hieradata: the cluster's name, its
# members by DNS name (every configured galera container), this node's name and address, the state transfer
# method, and what Galera needs of the server (row binlog, InnoDB, interleaved auto-increment locks).
#
# Written here rather than with Debian's puppet-module-michaeltchapman-galera or puppetlabs-mysql: both manage the
# MariaDB service through the init system (service { 'mysql': } / systemd) and bootstrap the cluster from Puppet
# itself. A container has no init system, and dockstack decides which node starts the cluster (from every node's
# grastate.dat, which no single agent sees); the container's supervisor starts mariadbd once this file exists.
#
# mariadbd reads the file only as it starts: while the running one started with other settings than the file holds
# (deploy-all's `reconfigure` after a settings change, or a start whose settings changed meanwhile), dockstack's
# apply-settings (rendered by its galera service into the container) has it restarted cleanly by the supervisor,
# once Synced with members to join back to, and waits until it has stopped; the readiness check that follows waits
# for it to be back. A run that could not do it fails, and the next run finds the same difference and tries again.
class profile::galera (
  String $cluster_name = 'dockstack',
  Enum['mariabackup', 'rsync'] $sst_method = 'mariabackup',
  String $bind_address = '0.0.0.0',
  String $buffer_pool_size = '128M',
  String $gcache_size = '128M',
) {
  include profile::base
  $iface = $facts.dig('networking', 'interfaces', 'eth0', 'ip')
  $address = $iface ? {
    undef   => $facts['networking']['ip'],
    default => $iface,
  }
  file { '/etc/mysql/mariadb.conf.d/99-dockstack-galera.cnf':
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('profile/galera.cnf.epp', {
      'cluster_name'     => $cluster_name,
      'members'          => profile::service_members('galera'),
      'node'             => $trusted['certname'],
      'address'          => $address,
      'sst_method'       => $sst_method,
      'bind_address'     => $bind_address,
      'buffer_pool_size' => $buffer_pool_size,
      'gcache_size'      => $gcache_size,
    }),
  }
  exec { 'dockstack galera apply-settings':
    command => '/bin/sh /var/lib/dockstack/galera/apply-settings',
    onlyif  => '/bin/sh /var/lib/dockstack/galera/apply-settings differs',
    path    => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'],
    require => File['/etc/mysql/mariadb.conf.d/99-dockstack-galera.cnf'],
  }
}
