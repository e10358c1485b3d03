# profile::nova::compute: nova-compute's settings in a compute container: the libvirt driver with QEMU's TCG
# (virt_type qemu: these machines have no usable KVM), no VNC console (the serial console's log is what nova keeps),
# placement and neutron through the VIP as nova's service user, and the broker in the openstack container
# (profile::settings 'compute': where the supervisor points transport_url, whose password it writes). A guest that
# ran when its compute container stopped is started again when nova-compute starts
# (resume_guests_state_on_host_boot).
class profile::nova::compute {
  include profile::trust  # the stack's CA: its check and nova's clients reach the VIP over HTTPS
  $broker = profile::service_members('openstack')
  if $broker == [] {
    fail('profile::nova::compute: no container runs the openstack service (its rabbitmq is the broker)')
  }
  profile::settings { 'compute':
    settings => {
      'rabbitmq' => "${broker[0]}:5672",
      'keystone' => "${profile::url('keystone')}/v3",
    },
  }
  $service_auth = profile::openstack::authtoken('nova').filter |$k, $v| { $k != 'www_authenticate_uri' }
  $cafile = profile::ca_file()
  profile::openstack::conf { 'nova':
    sections => {
      # my_ip: the container's own address (nova guessed another without a default route)
      'DEFAULT'          => { 'compute_driver' => 'libvirt.LibvirtDriver', 'state_path' => '/var/lib/nova',
                              'instances_path' => '/var/lib/nova/instances',
                              'my_ip' => $facts['networking']['ip'] },
      'libvirt'          => { 'virt_type' => 'qemu', 'cpu_mode' => 'none' },
      'vnc'              => { 'enabled' => 'false' },
      'compute'          => { 'resume_guests_state_on_host_boot' => 'true' },
      'glance'           => $cafile ? { '' => {}, default => { 'cafile' => $cafile } },
      'placement'        => $service_auth,
      'neutron'          => $service_auth,
      'oslo_concurrency' => { 'lock_path' => '/var/lib/nova/tmp' },
    },
  }
}
