# /etc/aegir/aegir.hcl: aegir server's configuration (the Debian package's
# default). Every setting is described in the README's "Configuration"
# section and in /usr/share/doc/aegir/install.md.
#
# aegir refuses to start while the `unconfigured` line below is here.
# Set at least:
#   store.consul.address   your Consul (or store.backend = "bolt" on one machine)
#   redis.address          your Redis (live logs, locks, one dispatcher)
#   executor.kind          "nomad" (back ends on each server's Nomad client)
#                          or "local" (child processes of aegir server)
#   secrets.backend        "vault" or "file"
# then delete the `unconfigured` line and run: systemctl enable --now aegir
unconfigured = "edit /etc/aegir/aegir.hcl: set store, redis, executor and secrets for this cluster, then delete its 'unconfigured' line"

data_dir  = "/var/lib/aegir"
http_addr = "127.0.0.1:8480"

store {
  backend = "consul"
  consul {
    address = "127.0.0.1:8500"
    prefix  = "aegir/v1/"
  }
}

executor {
  kind = "nomad"
}

nomad {
  address = "http://127.0.0.1:4646"
  binary  = "/usr/bin/aegir"      # where this package puts aegir on each client node
}

redis {
  address = "127.0.0.1:6379"
}

secrets {
  backend = "file"                # encrypted, under data_dir; "vault" for a cluster
}
