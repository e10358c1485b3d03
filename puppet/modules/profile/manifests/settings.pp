# profile::settings: one service's settings file, /etc/dockstack/TITLE.conf, rendered from hieradata.
# The same hieradata always gives the same bytes (keys sorted), so a second run changes nothing.
define profile::settings(Hash[String, String] $settings) {
  include profile::base
  file { "/etc/dockstack/${title}.conf":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('profile/settings.conf.epp', { 'service' => $title, 'settings' => $settings }),
  }
}
