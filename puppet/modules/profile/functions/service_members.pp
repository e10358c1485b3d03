# The DNS names of the containers that run a service dockstack runs (hieradata dockstack::members_by_service,
# from roles[].service), in config order: whatever their roles are called.
function profile::service_members(String $service) >> Array[String] {
  lookup('dockstack::members_by_service', Hash, 'first', {}).get($service, [])
}
