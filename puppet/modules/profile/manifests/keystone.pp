# profile::keystone: keystone's settings (fernet tokens from the keys the supervisor derives) and, for reference,
# its database through haproxy. Written here rather than with Debian's puppet-module-keystone: that module manages
# keystone as an init-system service behind Apache (puppetlabs-apache), creates the database with puppetlabs-mysql
# and bootstraps through Puppet resources whose passwords would be in the catalog and the reports the Puppet server
# keeps. A container has no init system; the supervisor starts keystone, and passwords stay in its secret files.
class profile::keystone {
  profile::settings { 'keystone':
    settings => {
      'connection' => "mysql+pymysql://keystone@${profile::endpoint('mysql')}/keystone",
      'bind_port'  => '5000',
    },
  }
  profile::openstack::conf { 'keystone':
    sections => {
      'token'          => { 'provider' => 'fernet' },
      'fernet_tokens'  => { 'key_repository' => '/etc/keystone/fernet-keys/', 'max_active_keys' => '3' },
      'credential'     => { 'key_repository' => '/etc/keystone/credential-keys/' },
      # memcached on a unix socket only keystone's user opens, run by the container's supervisor (the openstack
      # definition's KEYSTONE_CACHE); shared by keystone's workers, so what one changes the others see
      'cache'          => {
        'enabled'          => 'true',
        'backend'          => 'oslo_cache.memcache_pool',
        'memcache_servers' => 'unix:/run/dockstack-keystone-cache/memcached.sock',
      },
    },
  }
}
