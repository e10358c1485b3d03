# profile::galera: the Galera cluster's membership (every configured galera container, by DNS name).
# Minimal for now: MariaDB itself and the wsrep settings that start it come with the Galera work.
class profile::galera {
  include profile::base
  file { '/etc/dockstack/galera.cnf':
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('profile/galera.cnf.epp', {
      'members' => profile::members('galera'),
      'node'    => $trusted['certname'],
    }),
  }
}
