# profile::base: what every dockstack node gets: the folder the profiles write their settings into.
class profile::base {
  file { '/etc/dockstack':
    ensure => directory,
    owner  => 'root',
    group  => 'root',
    mode   => '0755',
  }
}
