# aegir-server: the dashboard, REST API and dispatcher as a Nomad service,
# registered in Consul with an HTTP health check. Run two or more: one
# dispatches (leadership through a Redis lock), all serve the API.
#
#   nomad job run -var count=2 aegir-server.nomad.hcl

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

job "aegir-server" {
  type        = "service"
  region      = var.region
  namespace   = var.namespace
  datacenters = var.datacenters

  group "server" {
    count = var.count

    network {
      port "http" {}
    }

    service {
      name     = "aegir"
      port     = "http"
      provider = "consul"
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
        args    = ["server", "-config", var.config_file, "-http-addr", "${NOMAD_ADDR_http}"]
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }
  }
}
