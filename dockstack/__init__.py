"""dockstack: agentless deployment of a container control plane over SSH."""
