# aegir-server: the dashboard, REST API and dispatcher as a Nomad service,
# registered in Consul with an HTTP health check. Run two or more: one
# dispatches (leadership through a Redis lock), all serve the API.
#
#   aegir jobspec aegir-server -var count=2 | nomad job run -
#
# The servers run aegir_binary from the node (the Debian package's); their
# back ends can fetch it from them (nomad.binary_from_servers). See
# docs/nomad.md.

variable "count" {
  type    = number
  default = 1
}

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "region" {
  type    = string
  default = "global"
}

variable "namespace" {
  type    = string
  default = "default"
}

variable "driver" {
  type    = string
  default = "raw_exec"
}

variable "aegir_binary" {
  type    = string
  default = "/usr/local/bin/aegir"
}

variable "config_file" {
  type    = string
  default = "/etc/aegir/aegir.hcl"
}

variable "service_provider" {
  type        = string
  description = "where the aegir service is registered: consul (for a router in front), or nomad (Nomad's own service discovery)"
  default     = "consul"
}

variable "data_dir" {
  type        = string
  description = "aegir's data dir, over the config file's data_dir; e.g. \"$${NOMAD_ALLOC_DIR}/data\" for several allocations on one node. Empty: the config file's"
  default     = ""
}

job "aegir-server" {
  type        = "service"
  region      = var.region
  namespace   = var.namespace
  datacenters = var.datacenters

  group "server" {
    count = var.count

    network {
      port "http" {}
      # The builtin web server's sites (a server whose sites it serves
      # names this port in its builtin service).
      port "sites" {}
    }

    service {
      name     = "aegir"
      port     = "http"
      provider = var.service_provider
      tags     = ["aegir", "api"]

      check {
        type     = "http"
        path     = "/api/v1/health"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "server" {
      driver = var.driver

      config {
        command = var.aegir_binary
        args = concat(
          ["server", "-config", var.config_file, "-http-addr", "${NOMAD_ADDR_http}", "-sites-addr", "${NOMAD_ADDR_sites}"],
          var.data_dir == "" ? [] : ["-data-dir", var.data_dir]
        )
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }
  }
}
