# profile::neutron::linuxbridge: neutron's Linux bridge agent in a compute container: VXLAN tenant networks whose
# endpoint is the container's own address on the segment (local_ip), their forwarding entries from neutron-server
# (l2population) rather than multicast, no security groups (their iptables rules on a bridge need br_netfilter, a
# module these machines' kernels do not load: the noop driver), and the broker in the openstack container (the
# supervisor writes transport_url, with its password).
class profile::neutron::linuxbridge {
  profile::openstack::conf { 'neutron':
    sections => {
      'DEFAULT'          => { 'core_plugin' => 'ml2' },
      'vxlan'            => { 'enable_vxlan' => 'true', 'local_ip' => $facts['networking']['ip'],
                              'l2_population' => 'true' },
      'securitygroup'    => { 'enable_security_group' => 'false', 'firewall_driver' => 'noop' },
      'experimental'     => { 'linuxbridge' => 'true' },  # Zed's agent refuses to start without it, as the server
      # its privsep daemons keep only what the container holds (they ask for SYS_ADMIN and more by default, and
      # fail to start where the bounding set has none of it): bridges, VXLAN devices, links need NET_ADMIN alone
      'privsep'          => { 'capabilities' => 'CAP_NET_ADMIN,CAP_DAC_OVERRIDE' },
      'privsep_link'     => { 'capabilities' => 'CAP_NET_ADMIN' },
      'oslo_concurrency' => { 'lock_path' => '/var/lib/neutron/tmp' },
    },
  }
}
