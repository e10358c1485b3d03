# profile::neutron::server: neutron-server's settings: the ML2 core plugin with flat, VLAN and VXLAN types, tenant
# networks of type VXLAN (VNIs 1-1000: a network and its subnets are made in the database, with no agent on the
# control plane) and no mechanism driver yet (OpenContrail's comes with the Contrail roles), one API and one RPC
# worker, keystone through the VIP, no port notifications to nova (no compute node yet). Not Debian's
# puppet-module-neutron: see profile::keystone.
class profile::neutron::server {
  profile::settings { 'neutron-server':
    settings => {
      'connection' => "mysql+pymysql://neutron@${profile::endpoint('mysql')}/neutron",
      'auth_url'   => "${profile::url('keystone')}/v3",
      'bind_port'  => '9696',
    },
  }
  profile::openstack::conf { 'neutron':
    sections => {
      'DEFAULT'            => { 'core_plugin' => 'ml2', 'service_plugins' => '', 'auth_strategy' => 'keystone',
                                'bind_host' => '0.0.0.0', 'bind_port' => '9696', 'api_workers' => '1',
                                'rpc_workers' => '1', 'rpc_state_report_workers' => '1',
                                'notify_nova_on_port_status_changes' => 'false',
                                'notify_nova_on_port_data_changes' => 'false' },
      'ml2'                => { 'type_drivers' => 'flat,vlan,vxlan', 'tenant_network_types' => 'vxlan',
                                'mechanism_drivers' => '', 'extension_drivers' => 'port_security' },
      'ml2_type_vxlan'     => { 'vni_ranges' => '1:1000' },
      'keystone_authtoken' => profile::openstack::authtoken('neutron'),
      'oslo_concurrency'   => { 'lock_path' => '/var/lib/neutron/tmp' },
    },
  }
}
