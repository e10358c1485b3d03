# profile::redis: Redis's settings, from dockstack's hieradata and the node's facts: bound to this container's own
# address (eth0) only, the port, the data folder (the host's, mounted by dockstack) and an include of the
# password file dockstack's supervisor writes (templates/redis/entrypoint.sh.j2); the password never passes
# through Puppet. The supervisor starts redis-server once this file exists.
class profile::redis (
  Integer[1, 65535] $port = 6379,
  String $data_dir = '/var/lib/redis',
  String $auth_file = '/run/dockstack-redis/auth.conf',
) {
  include profile::base
  $address = $facts.dig('networking', 'interfaces', 'eth0', 'ip')
  if $address =~ Undef {
    fail('profile::redis: eth0 has no IPv4 address yet')
  }
  file { '/etc/redis/dockstack.conf':
    ensure  => file,
    owner   => 'root',
    group   => 'redis',
    mode    => '0640',
    content => epp('profile/redis.conf.epp', {
      'address'   => $address,
      'port'      => $port,
      'data_dir'  => $data_dir,
      'auth_file' => $auth_file,
    }),
  }
}
