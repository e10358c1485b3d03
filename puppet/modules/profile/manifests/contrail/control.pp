# profile::contrail::control: the control node's Contrail API servers and its BGP port.
class profile::contrail::control {
  $api = profile::members('config').map |$h| { "${h}:8082" }
  profile::settings { 'contrail-control':
    settings => {
      'api_servers' => $api.join(' '),
      'bgp_port'    => '179',
    },
  }
}
