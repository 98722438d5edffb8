# aegir-queue: one pass of a periodic queue (cron, backup or stats) on a
# schedule. Nomad starts `aegir queue run <queue>`; prohibit_overlap keeps a
# slow pass from overlapping the next (aegir also holds a lock per queue).
#
#   aegir jobspec aegir-queue -var queue=cron -var schedule="*/5 * * * *" | nomad job run -
# (the job's id is then aegir-queue-cron; `nomad job run -var` on this file
# would register every queue under the one id "aegir-queue").

variable "queue" {
  type    = string
  default = "cron"
}

variable "schedule" {
  type        = string
  description = "cron expression for how often one pass runs"
  default     = "*/5 * * * *"
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

variable "aegir_addr" {
  type        = string
  description = "the aegir API the pass talks to"
  default     = "http://127.0.0.1:8480"
}

job "aegir-queue" {
  name        = "aegir-queue-${var.queue}"
  type        = "batch"
  region      = var.region
  namespace   = var.namespace
  datacenters = var.datacenters

  meta {
    aegir_queue = var.queue
  }

  periodic {
    cron             = var.schedule
    prohibit_overlap = true
    time_zone        = "UTC"
  }

  group "queue" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "pass" {
      driver = var.driver

      config {
        command = var.aegir_binary
        args    = ["queue", "run", var.queue]
      }

      env {
        AEGIR_ADDR = var.aegir_addr
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
