# profile::contrail::webui: the web UI's Contrail API and analytics servers.
class profile::contrail::webui {
  profile::settings { 'contrail-webui':
    settings => {
      'api_servers'       => profile::members('config').join(','),
      'analytics_servers' => profile::members('collector').join(','),
      'http_port'         => '8080',
    },
  }
}
