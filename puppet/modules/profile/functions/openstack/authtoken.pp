# keystone_authtoken for a service's API: its keystone user in the service project, keystone through the VIP, whose
# certificate is checked against the stack's CA only (cafile: profile::ca_file, when the stack has one). The password
# is not here (the supervisor writes it from the container's secret files).
function profile::openstack::authtoken(String $user) >> Hash[String, String] {
  $keystone = profile::url('keystone')
  $settings = {
    'www_authenticate_uri' => "${keystone}/v3",
    'auth_url'             => "${keystone}/v3",
    'auth_type'            => 'password',
    'project_domain_name'  => 'Default',
    'user_domain_name'     => 'Default',
    'project_name'         => 'service',
    'username'             => $user,
    'region_name'          => lookup('profile::openstack::region', String, 'first', 'RegionOne'),
  }
  $cafile = profile::ca_file()
  $cafile ? {
    ''      => $settings,
    default => $settings + { 'cafile' => $cafile },
  }
}
