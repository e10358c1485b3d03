# profile::openstack::conf: an OpenStack service's non-secret settings, /etc/TITLE/TITLE.conf.d/50-dockstack.conf
# (sections and keys sorted, so the same hieradata always gives the same bytes). oslo.config reads that folder after
# the service's own file (its default config dirs), so these override Debian's defaults. No secret is here: database
# URLs with passwords, transport_url and keystone_authtoken's password are written beside it, in
# 90-dockstack-secrets.conf, by the container's supervisor from its secret files, so no password reaches a catalog
# or a report the Puppet server keeps.
define profile::openstack::conf(Hash[String, Hash[String, String]] $sections) {
  include profile::base
  file { ["/etc/${title}", "/etc/${title}/${title}.conf.d"]:
    ensure => directory,
  }
  file { "/etc/${title}/${title}.conf.d/50-dockstack.conf":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('profile/oslo.conf.epp', { 'service' => $title, 'sections' => $sections }),
  }
}
